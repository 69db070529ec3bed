package ccr

func builtinTransformers() []TransformerDef { return nil }
