"""``kubectl vmop``: what a person does by hand to vmop's objects, through the Kubernetes API only
(spec edits and vmop's documented annotations; never a platform call, but for ``probe``)."""
