"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into the virtual environments of its sanity tests with a
get-pip script fetched from a site this machine cannot reach. This script does the same
job with what is here: the standard library's ensurepip, then pip itself from PyPI at the
version ansible-test asks for. The Makefile places it where ansible-test looks for its cache.
Arguments are those of get-pip: pip options and requirements, plus --no-setuptools/--no-wheel.
"""
import subprocess
import sys


def main(argv):
    args = [a for a in argv if a not in ("--no-setuptools", "--no-wheel")]
    # In a child process: ensurepip blanks pip's configuration in its own process's
    # environment, and the install below needs the machine's pip.conf (its CA bundle).
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
