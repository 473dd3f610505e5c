"""SARA steering lab: a Gradio app over ``sara_core`` (UI only; all steering is in the library).

Type a dilemma, pick a stance (attract / repel prompts) and watch the original, SARA-steered and
ActAdd-steered answers stream in side by side, then see what SARA did to every hidden unit.

    python app.py                       # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT)
    SARA_MODEL=Qwen/Qwen2.5-0.5B-Instruct python app.py
    SARA_PUBLIC=1 python app.py         # public demo: model allowlist, smaller caps

Environment: SARA_MODEL (model to load), SARA_PUBLIC (public-demo limits), SARA_ONLINE (allow the
model hub; otherwise HF_HUB_OFFLINE=1 unless SARA_MODEL names a hub model or this runs on a
Space), SARA_ALLOWED_MODELS (comma-separated allowlist), SARA_MAX_MODELS (models kept in memory),
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (where to listen). ``sara_lab.settings`` reads them once;
the page itself is built by ``sara_lab.page`` (see docs/architecture.md).
"""

from sara_lab.settings import Settings, configure_environment

# Offline and private defaults must be in the environment before gradio, transformers or torch
# are imported, so the imports below come after this call.
configure_environment()

import logging  # noqa: E402

from sara_lab.lab import make_lab  # noqa: E402
from sara_lab.page import build_app, launch  # noqa: E402


def main() -> None:
    """Read the settings, build the page, and serve it until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    demo = build_app(make_lab(settings))
    launch(demo, settings)


if __name__ == "__main__":
    main()
