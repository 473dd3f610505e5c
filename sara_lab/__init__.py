"""The SARA steering lab: a Gradio app over ``sara_core`` (the UI only; steering is in the library).

``settings`` reads the environment once; ``page.build_app`` assembles one module per tab
(``tabs/``) and wires their events to one handler module per action (``handlers/``); ``render``
turns results into markdown, tables and figures. See docs/architecture.md. Importing this package
imports nothing heavy, so ``settings.configure_environment`` can run before gradio and torch.
"""
