# Two entry points: `make demo` and `make test`. Both create .venv and install into it (idempotent).
# Each installs only what it needs (pyproject.toml extras): the demo the inference core plus `eval` (it scores
# PESQ/STOI), the tests `dev` (train + eval + test tools). Separate stamps, so a demo-only install never makes
# `make test` skip its extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch lies on disk on these machines; pinning it first keeps pip from fetching a CUDA build.
TORCH_SPEC ?= torch==2.13.0
WHEELS := $(wildcard /opt/wheels)
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q $(if $(WHEELS),--find-links $(WHEELS))
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint format install clean pretrained browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# everything: train, eval and the test tools
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) "$(TORCH_SPEC)"
	$(PIP) -e ".[dev]"
	touch $(STAMP)

# the inference core and the PESQ/STOI scorers the demo reports
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) "$(TORCH_SPEC)"
	$(PIP) -e ".[eval]"
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m vqaudio.demo --out demo-output

# The browser test (tests/test_report_browser.py) opens a report in headless Chromium. Installed here where we can
# (root with apt-get, as in CI); anywhere else, or if apt fails, it says so and the test skips. Never fails.
BROWSER_PACKAGES := chromium chromium-driver
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES)
browser:
	@if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing $(BROWSER_PACKAGES) for the browser test"; \
			{ $(APT_INSTALL) || { apt-get update -q && $(APT_INSTALL); }; } >/dev/null 2>&1 \
				|| echo "could not install $(BROWSER_PACKAGES): the browser test will skip"; \
		else \
			echo "no chromium/chromedriver (apt-get install $(BROWSER_PACKAGES) as root): the browser test will skip"; \
		fi; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache

# Retrain every shipped model from its recipe and copy the best weights into the package (CPU: ~15 h; the denoiser
# reads its noise from the recipe's data.noise, ../shared/data/noise; the separator trains on MUSIC). STAGES are
# earlier stages, trained in this order but not shipped: the codec's, denoiser's and separator's recipes start from their
# runs (init_from).
STAGES := codec-8k-base codec-8k-deep denoise-16k-conv denoise-16k-gru denoise-16k-lowsnr denoise-16k-window denoise-16k-noise denoise-16k-stoi denoise-16k-coloured denoise-16k-db separate-16k-conv
SHIPPED := reconstruct-vqvae-8k reconstruct-vae-8k codec-8k codec-16k denoise-16k separate-16k
DATA ?= ../shared/data/speech
MUSIC ?= ../shared/data/music/mir1k
pretrained: $(STAMP)
	for name in $(STAGES) $(SHIPPED); do \
		case $$name in separate-*) data=$(MUSIC);; *) data=$(DATA);; esac; \
		$(BIN)/vqaudio train recipes/$$name.yaml --data $$data --out runs --force || exit 1; \
		case " $(STAGES) " in *" $$name "*) continue;; esac; \
		$(BIN)/python -m vqaudio.train.publish runs/$$name/best.safetensors src/vqaudio/assets/pretrained/$$name.safetensors || exit 1; \
	done
