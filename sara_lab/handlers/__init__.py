"""One module per action of the page; each handler is a plain function whose first argument is the
:class:`sara_lab.lab.Lab`, so tests call them directly, without widgets."""
