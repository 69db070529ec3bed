package ccr

// builtinTransformers lists every built-in transformer definition.
func builtinTransformers() []TransformerDef {
	var defs []TransformerDef
	defs = append(defs, anthropicTransformers()...)
	defs = append(defs, geminiTransformers()...)
	defs = append(defs, openaiTransformers()...)
	defs = append(defs, builtinTransformerDefs()...)
	return defs
}
