# How `sam build` makes each function and layer artifact (template.yaml: `BuildMethod: makefile`).
# SAM runs `make build-<LogicalId>` in a copy of the function's or layer's folder, with ARTIFACTS_DIR
# set; each folder's Makefile includes this file.
#
# Why not SAM's python3.13 builder: it ships no bytecode, and Lambda's /var/task and /opt are
# read-only, so every cold start compiled every module it imported (35-60% of the import time,
# benchmarks/built_layers.py). Here every module is compiled ahead, as unchecked-hash .pyc: valid
# whatever timestamps the files get when Lambda unzips them, never re-checked against the source.
# The bytecode must be the runtime's: python3.13, as the template's Runtime.

PYTHON ?= python3.13
# The functions' architecture (template.yaml: Architectures / CompatibleArchitectures arm64): pip
# takes the wheels built for it, whatever machine builds.
LAMBDA_PLATFORM ?= manylinux2014_aarch64

PIP_INSTALL = $(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile \
	--platform $(LAMBDA_PLATFORM) --implementation cp --python-version 3.13 --only-binary=:all:
COMPILE = $(PYTHON) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash

# The folder as it is (without this build's Makefile or any local bytecode), then compiled.
define copy_and_compile
	$(PYTHON) -c 'import shutil, sys; shutil.copytree(".", sys.argv[1], dirs_exist_ok=True, \
		ignore=shutil.ignore_patterns("Makefile", "__pycache__", "*.pyc"))' "$(1)"
	$(COMPILE) "$(1)"
endef

# A function: its folder's modules (its dependencies come from the layers).
define function_artifact
	$(call copy_and_compile,$(ARTIFACTS_DIR))
endef

# A layer: the pinned requirements for the runtime's platform, then the folder's own packages, in python/.
# (pip --target puts console scripts in python/bin: nothing on Lambda runs them.)
define layer_artifact
	$(PIP_INSTALL) --target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	rm -rf "$(ARTIFACTS_DIR)/python/bin"
	$(call copy_and_compile,$(ARTIFACTS_DIR)/python)
endef
