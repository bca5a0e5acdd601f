# multicluster.kube — every entry point does its own set-up on a fresh machine.
#   make demo   the main job on a local lab of real clusters
#   make test   every test: unit, ansible-test sanity, integration against the lab
#   make bench  the benchmarks

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COLLECTION_LINK := .cache/collections/ansible_collections/multicluster/kube
SANITY_ROOT := $(or $(TMPDIR),/tmp)/multicluster-kube-sanity/ansible_collections/multicluster/kube
KUBE_BIN := .cache/kube/bin
LAB := $(PY) -m lab

.PHONY: help venv kube-bins chromium proto test test-unit test-layers test-sanity test-lint test-integration test-chaos chaos bench bench-scheduler demo lab-up lab-down lab-status clean

help:
	@echo "make demo | test | test-unit | test-layers | test-lint | test-sanity | test-integration | bench | kube-bins | lab-up | lab-down | lab-status"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed $(COLLECTION_LINK)

# The collection imports itself as ansible_collections.multicluster.kube: link this checkout there.
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

kube-bins:
	bash tools/kube/build.sh

proto: venv
	$(PY) tools/gen_proto.py

test: venv kube-bins
	$(MAKE) --no-print-directory test-unit test-layers test-lint test-sanity test-integration test-chaos

test-unit: venv
	$(PY) -m pytest -m "not integration" -s tests/unit tests/fuzz

# The layers of .importlinter: an import against the flow fails the build.
test-layers: venv
	cd .cache/collections && PYTHONPATH=. $(CURDIR)/$(VENV)/bin/lint-imports --config $(CURDIR)/.importlinter

# ansible-test's own --venv set-up downloads a pip bootstrap from a site this machine cannot
# reach, so the sanity tools get a virtualenv of their own, from ansible-test's pinned lists.
SANITY_VENV := .cache/sanity-venv
ANSIBLE_TEST_REQS = $(VENV)/lib/python3.11/site-packages/ansible_test/_data/requirements

$(SANITY_VENV)/.installed: requirements-dev.txt
	test -x $(SANITY_VENV)/bin/python || $(PYTHON) -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install --quiet --disable-pip-version-check $$(grep '^ansible-core==' requirements-dev.txt) \
		$$(for f in $(ANSIBLE_TEST_REQS)/sanity.*.txt; do echo "-r $$f"; done)
	touch $@

# ...and its import test bootstraps pip into fresh virtualenvs with a script it downloads:
# give it tools/get_pip.py, which does that with ensurepip and PyPI.
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py
$(GET_PIP_CACHE): tools/get_pip.py
	mkdir -p $(dir $@) && cp $< $@

# ansible-test needs the collection at a real path ending in ansible_collections/NS/NAME, outside git.
test-sanity: venv $(SANITY_VENV)/.installed $(GET_PIP_CACHE)
	@command -v shellcheck >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; } || \
		echo "test-sanity: shellcheck is not installed and could not be; ansible-test skips its shellcheck test"
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(SANITY_ROOT)
	cd $(SANITY_ROOT) && PATH=$(CURDIR)/$(SANITY_VENV)/bin:$$PATH ansible-test sanity --python 3.11 --color no

test-lint: venv
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.cache/collections \
		ansible-lint --offline --profile production roles/ playbooks/

test-integration: venv kube-bins chromium
	$(PY) -m pytest -m integration tests/integration

# The status page's browser test drives Debian's chromium (tests/integration/test_status_page.py).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { command -v apt-get >/dev/null && \
		[ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		chromium chromium-driver >/dev/null; } || echo "chromium: not installed and could not be; the status page test fails"
# The chaos suite: a short bounded run in `make test`; `make chaos` is the long one.
test-chaos: venv kube-bins
	$(PY) -m pytest -m integration -s tests/chaos

chaos: venv kube-bins
	CHAOS_WRITES=1000 CHAOS_FAULTS=50 $(PY) -m pytest -m integration -s tests/chaos

# Every benchmark, each against its baseline in the same run; results in bench/results/*.json,
# plots in docs/performance/. The scheduler's speed-up over the seed's algorithm is the last line.
# bench_scale.py needs root (network namespaces); on 2 cores its 100-listener partition phase
# overloads the machine (docs/performance.md): `bench_scale.py 20 300` is the quick form.
# bench_idle.py: what each member of 10, 30 and 100 resting listeners costs, in CPU-seconds
# and calls; bench_simulation.py: the protocol at 100 to 1,000 members on simulated time
# (`--full` adds the 10,000-write partition).
bench: venv kube-bins
	$(PY) bench/bench_propagation.py
	$(PY) bench/bench_ansible.py
	$(PY) bench/bench_failover.py
	$(PY) bench/bench_rescue.py
	$(PY) bench/bench_rollout.py
	$(PY) bench/bench_call_cost.py
	$(PY) bench/bench_memory.py
	$(PY) bench/bench_idle.py
	$(PY) bench/bench_simulation.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_scheduler.py

bench-scheduler: venv
	$(PY) bench/bench_scheduler.py

lab-up: venv kube-bins
	$(LAB) up

lab-down: venv
	$(LAB) down

lab-status: venv
	$(LAB) status

demo: venv kube-bins
	$(PY) -m lab up
	bash tools/demo.sh

clean: lab-down
	rm -rf $(VENV) .cache/collections .cache/sanity
