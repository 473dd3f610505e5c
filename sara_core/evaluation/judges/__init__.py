"""The judges that label an answer with an ethical school, or Unclassifiable.

``judge`` (the pipeline: collapse rules, a classifier, the group), ``embed`` (MiniLM prototype
and fitted judges) over ``encoder`` (the offline sentence encoder), ``lm`` (a language model's
likelihood of each label), ``api`` (an OpenAI-compatible endpoint), ``blind`` (the blind
labelling check) and ``cli`` (``python -m sara_core judge``).
"""
