package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file converts Anthropic tool input schemas (JSON Schema) to the
// forms Gemini accepts (protocol.md §4.2.4):
//
//   - mode "openapi": Gemini's OpenAPI-subset Schema, sent as
//     functionDeclarations[].parameters;
//   - mode "jsonschema": JSON Schema with $schema removed and local $refs
//     inlined, sent as functionDeclarations[].parametersJsonSchema.
//
// Schemas are edited as an ordered tree (gjNode) so that key order and
// number literals survive unchanged.

// Schema modes of [GeminiOptions].
const (
	GeminiSchemaOpenAPI    = "openapi"
	GeminiSchemaJSONSchema = "jsonschema"
)

// errGeminiSchemaFallback reports a schema the OpenAPI subset cannot
// express; the tool is then declared with parametersJsonSchema.
var errGeminiSchemaFallback = errors.New("gemini: schema needs parametersJsonSchema")

// gjNode is one JSON value, with object keys kept in order and numbers kept
// as their literal text.
type gjNode struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' boolean, 'z' null
	keys  []string
	vals  []*gjNode // object values, parallel to keys
	items []*gjNode // array items
	str   string    // string value, or the literal of a number or boolean
}

func gjParse(b []byte) (*gjNode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := gjDecode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("gemini: trailing data after schema")
	}
	return n, nil
}

func gjDecode(dec *json.Decoder, depth int) (*gjNode, error) {
	if depth > 200 {
		return nil, errors.New("gemini: schema nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &gjNode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := gjDecode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.set(k, v)
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &gjNode{kind: 'a', items: []*gjNode{}}
			for dec.More() {
				v, err := gjDecode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			_, err := dec.Token()
			return n, err
		}
	case string:
		return &gjNode{kind: 's', str: t}, nil
	case json.Number:
		return &gjNode{kind: 'n', str: t.String()}, nil
	case bool:
		return &gjNode{kind: 'b', str: strconv.FormatBool(t)}, nil
	case nil:
		return &gjNode{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("gemini: unexpected JSON token %v", tok)
}

func (n *gjNode) encode() json.RawMessage {
	var buf bytes.Buffer
	n.write(&buf)
	return buf.Bytes()
}

func (n *gjNode) write(buf *bytes.Buffer) {
	switch n.kind {
	case 'o':
		buf.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := marshalNoEscape(k)
			buf.Write(kb)
			buf.WriteByte(':')
			n.vals[i].write(buf)
		}
		buf.WriteByte('}')
	case 'a':
		buf.WriteByte('[')
		for i, v := range n.items {
			if i > 0 {
				buf.WriteByte(',')
			}
			v.write(buf)
		}
		buf.WriteByte(']')
	case 's':
		b, _ := marshalNoEscape(n.str)
		buf.Write(b)
	case 'n', 'b':
		buf.WriteString(n.str)
	default:
		buf.WriteString("null")
	}
}

func (n *gjNode) get(k string) *gjNode {
	if n == nil || n.kind != 'o' {
		return nil
	}
	for i, key := range n.keys {
		if key == k {
			return n.vals[i]
		}
	}
	return nil
}

// set replaces the value of k, or appends k.
func (n *gjNode) set(k string, v *gjNode) {
	for i, key := range n.keys {
		if key == k {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
}

func (n *gjNode) del(k string) {
	for i, key := range n.keys {
		if key == k {
			n.keys = append(n.keys[:i:i], n.keys[i+1:]...)
			n.vals = append(n.vals[:i:i], n.vals[i+1:]...)
			return
		}
	}
}

func (n *gjNode) clone() *gjNode {
	if n == nil {
		return nil
	}
	c := &gjNode{kind: n.kind, str: n.str}
	if n.kind == 'o' {
		c.keys = append([]string(nil), n.keys...)
		c.vals = make([]*gjNode, len(n.vals))
		for i, v := range n.vals {
			c.vals[i] = v.clone()
		}
	}
	if n.kind == 'a' {
		c.items = make([]*gjNode, len(n.items))
		for i, v := range n.items {
			c.items[i] = v.clone()
		}
	}
	return c
}

func gjString(s string) *gjNode { return &gjNode{kind: 's', str: s} }
func gjBool(b bool) *gjNode     { return &gjNode{kind: 'b', str: strconv.FormatBool(b)} }

// typeName returns the lower-cased single type of a schema, "" if absent
// or not a single string.
func (n *gjNode) typeName() string {
	t := n.get("type")
	if t == nil || t.kind != 's' {
		return ""
	}
	return strings.ToLower(t.str)
}

// geminiRefs resolves local "$ref" pointers against the root schema.
type geminiRefs struct {
	root *gjNode
}

// resolve returns the node a local ref points to, or nil.
func (r geminiRefs) resolve(ref string) *gjNode {
	if !strings.HasPrefix(ref, "#") {
		return nil
	}
	p := ref[1:]
	n := r.root
	if p == "" {
		return n
	}
	if p[0] != '/' {
		return nil
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.kind {
		case 'o':
			n = n.get(tok)
		case 'a':
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.items) {
				return nil
			}
			n = n.items[i]
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// Keys Gemini's OpenAPI Schema accepts (protocol.md §3.3, minus default and
// title per §4.2.4 rule 7).
func geminiAllowedKey(k string) bool {
	switch k {
	case "anyOf", "description", "enum", "example", "format", "items", "maxItems", "maxLength",
		"maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum", "nullable",
		"pattern", "properties", "propertyOrdering", "required", "type":
		return true
	}
	return false
}

// geminiSchemaOpenAPI converts input_schema to Gemini's OpenAPI subset. It
// returns nil when the tool should be declared without parameters (an
// object without properties), and errGeminiSchemaFallback when the schema
// cannot be expressed in the subset.
func geminiSchemaOpenAPI(schema json.RawMessage) (json.RawMessage, error) {
	if !hasValue(schema) {
		return nil, nil
	}
	root, err := gjParse(schema)
	if err != nil {
		return nil, err
	}
	if root.kind != 'o' {
		return nil, errGeminiSchemaFallback
	}
	if t := root.typeName(); (t == "" || t == "object") && len(root.get("properties").keysOrNil()) == 0 &&
		root.get("$ref") == nil && root.get("anyOf") == nil && root.get("oneOf") == nil && root.get("allOf") == nil {
		return nil, nil // no parameters
	}
	c := geminiOpenAPI{refs: geminiRefs{root: root}}
	out, err := c.convert(root, 0)
	if err != nil {
		return nil, err
	}
	if out.typeName() == "object" && len(out.get("properties").keysOrNil()) == 0 && out.get("anyOf") == nil {
		return nil, nil
	}
	return out.encode(), nil
}

func (n *gjNode) keysOrNil() []string {
	if n == nil || n.kind != 'o' {
		return nil
	}
	return n.keys
}

type geminiOpenAPI struct {
	refs  geminiRefs
	stack []string // refs being inlined, to detect cycles
}

// convert returns a sanitised copy of the schema s.
func (c *geminiOpenAPI) convert(s *gjNode, depth int) (*gjNode, error) {
	if depth > 64 {
		return nil, errGeminiSchemaFallback
	}
	if s.kind != 'o' {
		// Boolean schemas (true: anything) have no OpenAPI form.
		return nil, errGeminiSchemaFallback
	}
	s = s.clone()

	// Rule 1: inline local $ref, keeping a sibling description.
	if ref := s.get("$ref"); ref != nil {
		if ref.kind != 's' {
			return nil, errGeminiSchemaFallback
		}
		for _, r := range c.stack {
			if r == ref.str {
				return nil, errGeminiSchemaFallback // recursive
			}
		}
		target := c.refs.resolve(ref.str)
		if target == nil {
			return nil, errGeminiSchemaFallback
		}
		c.stack = append(c.stack, ref.str)
		in, err := c.convert(target, depth+1)
		c.stack = c.stack[:len(c.stack)-1]
		if err != nil {
			return nil, err
		}
		if d := s.get("description"); d != nil && d.kind == 's' {
			in.set("description", d)
		}
		return in, nil
	}
	s.del("$defs")
	s.del("definitions")

	// Rule 2: unions.
	if t := s.get("type"); t != nil && t.kind == 'a' {
		if err := c.typeArray(s, t); err != nil {
			return nil, err
		}
		if s.get("anyOf") != nil {
			// typeArray built the branches; sanitise them below.
			return c.finishUnion(s, depth)
		}
	}
	if one := s.get("oneOf"); one != nil {
		if s.get("anyOf") == nil {
			s.set("anyOf", one)
		}
		s.del("oneOf")
	}
	if all := s.get("allOf"); all != nil {
		s.del("allOf")
		if err := c.mergeAllOf(s, all); err != nil {
			return nil, err
		}
		if s.get("$ref") != nil { // allOf with one $ref member
			return c.convert(s, depth+1)
		}
	}
	if s.get("anyOf") != nil {
		return c.finishUnion(s, depth)
	}
	return c.finishSingle(s, depth)
}

// typeArray rewrites type:[T,"null"] to type:T,nullable and type:[T1,T2]
// to anyOf branches, moving each type's own keywords into its branch.
func (c *geminiOpenAPI) typeArray(s, t *gjNode) error {
	var types []string
	nullable := false
	for _, it := range t.items {
		if it.kind != 's' {
			return errGeminiSchemaFallback
		}
		if strings.ToLower(it.str) == "null" {
			nullable = true
			continue
		}
		types = append(types, it.str)
	}
	s.del("type")
	if nullable {
		s.set("nullable", gjBool(true))
	}
	switch len(types) {
	case 0:
		s.set("type", gjString("null"))
		return nil
	case 1:
		s.set("type", gjString(types[0]))
		return nil
	}
	branches := &gjNode{kind: 'a'}
	for _, typ := range types {
		br := &gjNode{kind: 'o'}
		br.set("type", gjString(typ))
		for _, k := range geminiKeysForType(strings.ToLower(typ)) {
			if v := s.get(k); v != nil {
				br.set(k, v.clone())
			}
		}
		branches.items = append(branches.items, br)
	}
	for _, typ := range types {
		for _, k := range geminiKeysForType(strings.ToLower(typ)) {
			s.del(k)
		}
	}
	s.set("anyOf", branches)
	return nil
}

func geminiKeysForType(t string) []string {
	switch t {
	case "object":
		return []string{"properties", "required", "additionalProperties", "minProperties", "maxProperties", "propertyNames", "patternProperties"}
	case "array":
		return []string{"items", "minItems", "maxItems", "uniqueItems", "contains", "prefixItems"}
	case "string":
		return []string{"enum", "const", "format", "pattern", "minLength", "maxLength"}
	case "number", "integer":
		return []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
	}
	return nil
}

// mergeAllOf inlines a one-element allOf and merges the properties and
// required lists of object members of a longer one.
func (c *geminiOpenAPI) mergeAllOf(s, all *gjNode) error {
	if all.kind != 'a' {
		return nil
	}
	if len(all.items) == 1 {
		m := all.items[0]
		if m.kind != 'o' {
			return errGeminiSchemaFallback
		}
		for i, k := range m.keys {
			if s.get(k) == nil || k == "properties" || k == "required" {
				s.set(k, m.vals[i].clone())
			}
		}
		return nil
	}
	props := s.get("properties")
	req := s.get("required")
	for _, m := range all.items {
		if m.kind != 'o' {
			continue
		}
		if r := m.get("$ref"); r != nil && r.kind == 's' {
			if t := c.refs.resolve(r.str); t != nil {
				m = t
			}
		}
		if p := m.get("properties"); p != nil && p.kind == 'o' {
			if props == nil {
				props = &gjNode{kind: 'o'}
			}
			for i, k := range p.keys {
				props.set(k, p.vals[i].clone())
			}
		}
		if r := m.get("required"); r != nil && r.kind == 'a' {
			if req == nil {
				req = &gjNode{kind: 'a'}
			}
			req.items = append(req.items, r.clone().items...)
		}
	}
	if props != nil {
		s.set("properties", props)
		if s.get("type") == nil {
			s.set("type", gjString("object"))
		}
	}
	if req != nil {
		s.set("required", req)
	}
	return nil
}

// finishUnion sanitises an anyOf schema: null branches become nullable,
// and a single remaining branch is inlined.
func (c *geminiOpenAPI) finishUnion(s *gjNode, depth int) (*gjNode, error) {
	union := s.get("anyOf")
	if union.kind != 'a' {
		return nil, errGeminiSchemaFallback
	}
	var keep []*gjNode
	for _, br := range union.items {
		if br.kind == 'o' && br.typeName() == "null" && len(br.keys) == 1 {
			s.set("nullable", gjBool(true))
			continue
		}
		keep = append(keep, br)
	}
	if len(keep) == 0 {
		s.del("anyOf")
		s.set("type", gjString("null"))
		return c.finishSingle(s, depth)
	}
	if len(keep) == 1 {
		s.del("anyOf")
		br := keep[0]
		if br.kind != 'o' {
			return nil, errGeminiSchemaFallback
		}
		in, err := c.convert(br, depth+1)
		if err != nil {
			return nil, err
		}
		// The parent's own keywords win over the branch's.
		for i, k := range s.keys {
			in.set(k, s.vals[i])
		}
		return c.finishSingle(in, depth)
	}
	out := &gjNode{kind: 'a'}
	for _, br := range keep {
		b, err := c.convert(br, depth+1)
		if err != nil {
			return nil, err
		}
		out.items = append(out.items, b)
	}
	s.set("anyOf", out)
	// A type beside anyOf is ambiguous; the branches carry the types.
	s.del("type")
	return c.filter(s, depth)
}

// finishSingle sanitises a schema with a single type (rules 3–9).
func (c *geminiOpenAPI) finishSingle(s *gjNode, depth int) (*gjNode, error) {
	// Rule 3: const.
	if cv := s.get("const"); cv != nil {
		s.del("const")
		if cv.kind == 's' {
			s.set("enum", &gjNode{kind: 'a', items: []*gjNode{cv}})
			if s.get("type") == nil {
				s.set("type", gjString("string"))
			}
		}
	}
	typ := s.typeName()
	// Rule 4: enum of strings only.
	if e := s.get("enum"); e != nil {
		ok := e.kind == 'a' && len(e.items) > 0 && (typ == "" || typ == "string")
		for _, it := range e.items {
			if it.kind != 's' {
				ok = false
			}
		}
		if !ok {
			s.del("enum")
		} else if typ == "" {
			s.set("type", gjString("string"))
			typ = "string"
		}
	}
	// Rule 5: exclusive bounds.
	geminiExclusive(s, typ, "exclusiveMinimum", "minimum", 1)
	geminiExclusive(s, typ, "exclusiveMaximum", "maximum", -1)
	// Rule 6: format.
	if f := s.get("format"); f != nil {
		keep := false
		if f.kind == 's' {
			switch typ {
			case "string":
				keep = f.str == "date-time" || f.str == "enum"
			case "integer":
				keep = f.str == "int32" || f.str == "int64"
			case "number":
				keep = f.str == "float" || f.str == "double"
			}
		}
		if !keep {
			s.del("format")
		}
	}
	// Infer a missing type from the keywords present.
	if typ == "" {
		switch {
		case s.get("properties") != nil:
			typ = "object"
		case s.get("items") != nil:
			typ = "array"
		default:
			// Rule 9 for properties: an untyped schema ("any value") has
			// no OpenAPI form.
			return nil, errGeminiSchemaFallback
		}
		s.set("type", gjString(typ))
	}
	switch typ {
	case "string", "number", "integer", "boolean", "array", "object", "null":
		s.set("type", gjString(typ))
	default:
		return nil, errGeminiSchemaFallback // a type Gemini does not know
	}
	switch typ {
	case "object":
		if depth > 0 && len(s.get("properties").keysOrNil()) == 0 {
			return nil, errGeminiSchemaFallback // rule 9, nested
		}
	case "array":
		it := s.get("items")
		if it == nil || it.kind != 'o' {
			return nil, errGeminiSchemaFallback // Gemini requires items
		}
	}
	return c.filter(s, depth)
}

// filter recurses into properties, items and anyOf, drops keys outside the
// allow-list (rule 7) and cleans required (rule 8).
func (c *geminiOpenAPI) filter(s *gjNode, depth int) (*gjNode, error) {
	out := &gjNode{kind: 'o'}
	for i, k := range s.keys {
		if !geminiAllowedKey(k) {
			continue
		}
		v := s.vals[i]
		switch k {
		case "properties":
			if v.kind != 'o' {
				continue
			}
			props := &gjNode{kind: 'o', keys: []string{}, vals: []*gjNode{}}
			for j, name := range v.keys { // property names are not keywords
				p, err := c.convert(v.vals[j], depth+1)
				if err != nil {
					return nil, err
				}
				props.keys = append(props.keys, name)
				props.vals = append(props.vals, p)
			}
			v = props
		case "items":
			if v.kind != 'o' {
				return nil, errGeminiSchemaFallback
			}
			it, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			v = it
		case "description", "pattern":
			if v.kind != 's' {
				continue
			}
		case "nullable":
			if v.kind != 'b' {
				continue
			}
		case "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
			if v.kind != 'n' {
				continue
			}
		}
		out.set(k, v)
	}
	// Rule 8.
	if req := out.get("required"); req != nil {
		props := out.get("properties")
		kept := &gjNode{kind: 'a'}
		if req.kind == 'a' {
			for _, it := range req.items {
				if it.kind == 's' && props.get(it.str) != nil && !geminiContains(kept, it.str) {
					kept.items = append(kept.items, it)
				}
			}
		}
		if len(kept.items) == 0 {
			out.del("required")
		} else {
			out.set("required", kept)
		}
	}
	return out, nil
}

func geminiContains(a *gjNode, s string) bool {
	for _, it := range a.items {
		if it.kind == 's' && it.str == s {
			return true
		}
	}
	return false
}

// geminiExclusive rewrites an exclusive bound to an inclusive one (rule 5).
// dir is +1 for a lower bound, -1 for an upper bound.
func geminiExclusive(s *gjNode, typ, exKey, key string, dir int) {
	ex := s.get(exKey)
	if ex == nil {
		return
	}
	s.del(exKey)
	var v float64
	switch ex.kind {
	case 'n':
		f, err := strconv.ParseFloat(ex.str, 64)
		if err != nil {
			return
		}
		v = f
	case 'b': // draft-04: a boolean modifying minimum/maximum
		cur := s.get(key)
		if ex.str != "true" || cur == nil || cur.kind != 'n' {
			return
		}
		f, err := strconv.ParseFloat(cur.str, 64)
		if err != nil {
			return
		}
		v = f
		s.del(key)
	default:
		return
	}
	if typ == "integer" {
		if dir > 0 {
			v = math.Floor(v) + 1
		} else {
			v = math.Ceil(v) - 1
		}
	}
	if cur := s.get(key); cur != nil && cur.kind == 'n' {
		if f, err := strconv.ParseFloat(cur.str, 64); err == nil {
			if (dir > 0 && f >= v) || (dir < 0 && f <= v) {
				return // the existing bound is stricter
			}
		}
	}
	s.set(key, &gjNode{kind: 'n', str: strconv.FormatFloat(v, 'f', -1, 64)})
}

// geminiSchemaJSON converts input_schema for parametersJsonSchema: $schema
// removed, local $refs inlined (Gemini rejects a $ref with sibling keys),
// a recursive $ref kept bare together with the $defs entry it names. It
// returns nil for an object schema without properties.
func geminiSchemaJSON(schema json.RawMessage) (json.RawMessage, error) {
	if !hasValue(schema) {
		return nil, nil
	}
	root, err := gjParse(schema)
	if err != nil {
		return nil, err
	}
	if root.kind != 'o' {
		return root.encode(), nil
	}
	c := geminiJSONInliner{refs: geminiRefs{root: root}, needed: map[string]bool{}}
	out := c.expand(root, 0)
	if out.kind == 'o' {
		out.del("$schema")
		out.del("$defs")
		out.del("definitions")
		out.del("$id")
		// Keep the definitions recursive refs still point at.
		for done := map[string]bool{}; ; {
			progress := false
			for _, ref := range sortedKeys(c.needed) {
				if done[ref] {
					continue
				}
				done[ref] = true
				progress = true
				path, ok := geminiDefPath(ref)
				if !ok {
					continue
				}
				target := c.refs.resolve(ref)
				if target == nil {
					continue
				}
				c.stack = []string{ref}
				exp := c.expand(target, 0)
				container := out.get(path[0])
				if container == nil {
					container = &gjNode{kind: 'o'}
					out.set(path[0], container)
				}
				container.set(path[1], exp)
			}
			if !progress {
				break
			}
		}
		ap := out.get("additionalProperties")
		if out.typeName() == "object" && len(out.get("properties").keysOrNil()) == 0 &&
			(ap == nil || (ap.kind == 'b' && ap.str == "false")) && out.get("anyOf") == nil && out.get("oneOf") == nil {
			return nil, nil
		}
	}
	return out.encode(), nil
}

// geminiDefPath splits "#/$defs/X" or "#/definitions/X" into its container
// and name.
func geminiDefPath(ref string) ([2]string, bool) {
	for _, c := range []string{"$defs", "definitions"} {
		p := "#/" + c + "/"
		if strings.HasPrefix(ref, p) && !strings.Contains(ref[len(p):], "/") {
			name := strings.ReplaceAll(strings.ReplaceAll(ref[len(p):], "~1", "/"), "~0", "~")
			return [2]string{c, name}, true
		}
	}
	return [2]string{}, false
}

type geminiJSONInliner struct {
	refs   geminiRefs
	stack  []string
	needed map[string]bool
}

// expand returns a copy of n with local $refs inlined.
func (c *geminiJSONInliner) expand(n *gjNode, depth int) *gjNode {
	if depth > 64 {
		return n.clone()
	}
	switch n.kind {
	case 'a':
		out := &gjNode{kind: 'a', items: make([]*gjNode, len(n.items))}
		for i, it := range n.items {
			out.items[i] = c.expand(it, depth+1)
		}
		return out
	case 'o':
	default:
		return n.clone()
	}
	if ref := n.get("$ref"); ref != nil && ref.kind == 's' {
		recursive := false
		for _, r := range c.stack {
			if r == ref.str {
				recursive = true
			}
		}
		target := c.refs.resolve(ref.str)
		if recursive || target == nil || target == c.refs.root {
			if target != nil && target != c.refs.root {
				c.needed[ref.str] = true
			}
			out := &gjNode{kind: 'o'}
			out.set("$ref", gjString(ref.str))
			return out
		}
		c.stack = append(c.stack, ref.str)
		out := c.expand(target, depth+1)
		c.stack = c.stack[:len(c.stack)-1]
		if out.kind != 'o' {
			return out
		}
		for i, k := range n.keys {
			if k != "$ref" {
				out.set(k, c.expand(n.vals[i], depth+1))
			}
		}
		return out
	}
	out := &gjNode{kind: 'o'}
	for i, k := range n.keys {
		if k == "$defs" || k == "definitions" {
			if depth > 0 {
				continue // nested definitions are inlined at their use
			}
			out.set(k, n.vals[i].clone()) // the root's are removed by the caller
			continue
		}
		if k == "$schema" && depth > 0 {
			continue
		}
		if k == "properties" && n.vals[i].kind == 'o' {
			props := &gjNode{kind: 'o', keys: []string{}, vals: []*gjNode{}}
			for j, name := range n.vals[i].keys {
				props.keys = append(props.keys, name)
				props.vals = append(props.vals, c.expand(n.vals[i].vals[j], depth+1))
			}
			out.set(k, props)
			continue
		}
		out.set(k, c.expand(n.vals[i], depth+1))
	}
	return out
}
