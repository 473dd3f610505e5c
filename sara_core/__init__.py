"""sara_core: SARA and ActAdd activation steering for causal language models.

SARA (Similarity-based Activation Steering with Repulsion and Attraction, Tlaie 2024) rescales each
hidden unit by how much more the prompt resembles an "attract" prompt than a "repel" prompt in an
SVD-reduced space. ActAdd (Turner et al. 2023) adds a difference of activations. Both implement
one :class:`Steering` interface; a batched decode loop gives every row its own steering.

The public names (``sc.load_model``, ``sc.compare``, ...) are listed once, in ``__init__.pyi``,
and resolve on first use: ``import sara_core`` imports neither torch nor transformers, so the
CLI's light commands and the app's settings start fast.
"""

import lazy_loader

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
