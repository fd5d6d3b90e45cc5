"""Pure image work in the front: decode an upload, turn options and a mask into the
encoded answer. No HTTP, no BentoML, no model: unit-tested on its own."""
