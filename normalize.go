package ccr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ValidateRequest checks the parts of an Anthropic Messages request that
// every upstream format relies on, the way Anthropic itself does: model,
// a non-empty messages array, max_tokens, the message roles, and the
// pairing of tool_use and tool_result blocks between consecutive turns.
// Indices in messages refer to the client's messages array and content
// arrays as sent. It returns nil or an *Error with status 400
// (invalid_request_error). It does not modify req.
func ValidateRequest(req *Request) error {
	switch {
	case req.Model == "":
		return invalidRequest("model: Field required")
	case req.MaxTokens == 0:
		return invalidRequest("max_tokens: Field required")
	}
	return validateContent(req)
}

// validateContent checks what a count_tokens request needs: the messages,
// their roles and the tool pairing; model and max_tokens are optional there.
func validateContent(req *Request) error {
	switch {
	case req.Messages == nil:
		return invalidRequest("messages: Field required")
	case len(req.Messages) == 0:
		return invalidRequest("messages: at least one message is required")
	case req.MaxTokens < 0:
		return invalidRequest("max_tokens: Input should be greater than or equal to 1")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "user", "assistant", "system":
		default:
			return invalidRequest(fmt.Sprintf("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i))
		}
	}
	return validateToolPairing(req.Messages)
}

func invalidRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: msg}
}

// blockRef locates a block in the client's messages array.
type blockRef struct{ msg, block int }

// turn is one message after steps 2–5 of the pre-processing, with the
// client positions of its blocks.
type turn struct {
	role   string
	blocks []*ContentBlock
	refs   []blockRef
}

// groupTurns applies the pre-processing steps that change adjacency (empty
// text dropped, empty messages dropped, same-role messages merged) while
// remembering where every block came from.
func groupTurns(msgs []Message) []turn {
	var out []turn
	for i := range msgs {
		m := &msgs[i]
		var t *turn
		for j := range m.Content {
			b := &m.Content[j]
			if b.Type == "text" && b.Text == "" {
				continue
			}
			if t == nil {
				if n := len(out); n > 0 && out[n-1].role == m.Role {
					t = &out[n-1]
				} else {
					out = append(out, turn{role: m.Role})
					t = &out[len(out)-1]
				}
			}
			t.blocks = append(t.blocks, b)
			t.refs = append(t.refs, blockRef{i, j})
		}
	}
	return out
}

// validateToolPairing implements step 6 of §4.0: every tool_use of an
// assistant turn needs a tool_result in the next turn, and every
// tool_result must answer a tool_use of the turn before.
func validateToolPairing(msgs []Message) error {
	turns := groupTurns(msgs)
	for k := range turns {
		t := &turns[k]
		switch t.role {
		case "user":
			var prev *turn
			if k > 0 && turns[k-1].role == "assistant" {
				prev = &turns[k-1]
			}
			for j, b := range t.blocks {
				if b.Type != "tool_result" {
					continue
				}
				if prev == nil || !hasToolUse(prev, b.ToolUseID) {
					r := t.refs[j]
					return invalidRequest(fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", r.msg, r.block, b.ToolUseID))
				}
			}
		case "assistant":
			if k == len(turns)-1 {
				continue
			}
			next := &turns[k+1]
			var missing []string
			first := -1
			for j, b := range t.blocks {
				if b.Type != "tool_use" {
					continue
				}
				if next.role == "user" && hasToolResult(next, b.ID) {
					continue
				}
				if first < 0 {
					first = t.refs[j].msg
				}
				missing = append(missing, b.ID)
			}
			if len(missing) > 0 {
				return invalidRequest(fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", first, strings.Join(missing, ", ")))
			}
		}
	}
	return nil
}

func hasToolUse(t *turn, id string) bool {
	for _, b := range t.blocks {
		if b.Type == "tool_use" && b.ID == id {
			return true
		}
	}
	return false
}

func hasToolResult(t *turn, id string) bool {
	for _, b := range t.blocks {
		if b.Type == "tool_result" && b.ToolUseID == id {
			return true
		}
	}
	return false
}

// normalizeOptions selects the target-specific parts of normalizeMessages.
type normalizeOptions struct {
	// SystemAsUser turns system messages and mid_conv_system blocks into
	// user text blocks "[System]\n"+text, for targets that accept a
	// system message only first (Gemini, no_mid_system providers). A
	// mid_conv_system block in an assistant message splits it around a
	// user turn of its own.
	SystemAsUser bool
	// DropBlankText drops whitespace-only text blocks as well as empty
	// ones, and system texts that are blank.
	DropBlankText bool
}

// blank reports whether a text is dropped.
func (o normalizeOptions) blank(s string) bool {
	return s == "" || o.DropBlankText && strings.TrimSpace(s) == ""
}

// normalizeMessages applies steps 2–5 of §4.0 for every non-Anthropic
// target: content is already a block list (step 2, done by Content's
// decoder); empty text blocks are dropped (3), then messages left empty
// (4), and consecutive messages of the same role are merged (5). It
// returns new slices and never modifies msgs.
func normalizeMessages(msgs []Message, o normalizeOptions) []Message {
	out := make([]Message, 0, len(msgs))
	add := func(role string, blocks Content) {
		if len(blocks) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, Message{Role: role, Content: blocks})
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Role == "system" && o.SystemAsUser {
			if text := systemText(m.Content); !o.blank(text) {
				add("user", Content{{Type: "text", Text: "[System]\n" + text}})
			}
			continue
		}
		blocks := make(Content, 0, len(m.Content))
		for _, b := range m.Content {
			switch {
			case b.Type == "text" && o.blank(b.Text):
				continue
			case b.Type == "mid_conv_system" && o.SystemAsUser:
				text := midConvText(&b)
				if o.blank(text) {
					continue
				}
				b = ContentBlock{Type: "text", Text: "[System]\n" + text}
				if m.Role != "user" {
					add(m.Role, blocks)
					add("user", Content{b})
					blocks = make(Content, 0, len(m.Content))
					continue
				}
			}
			blocks = append(blocks, b)
		}
		add(m.Role, blocks)
	}
	return out
}

// mergeAdjacent merges consecutive messages of the same role of a
// normalised list in place, after a target dropped some messages.
func mergeAdjacent(msgs []Message) []Message {
	out := msgs[:0]
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].Role == m.Role {
			out[n-1].Content = append(out[n-1].Content, m.Content...)
			continue
		}
		out = append(out, m)
	}
	return out
}

// systemText returns the text of a system message: its text blocks and
// the texts of mid_conv_system blocks, joined with a blank line.
func systemText(c Content) string {
	var parts []string
	for i := range c {
		b := &c[i]
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, b.Text)
			}
		case "mid_conv_system":
			if t := midConvText(b); t != "" {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, "\n\n")
}

// midConvText returns the texts of a mid_conv_system block's content,
// joined with a blank line.
func midConvText(b *ContentBlock) string {
	if len(b.Content) == 0 {
		return b.Text
	}
	var c Content
	if err := json.Unmarshal(b.Content, &c); err != nil {
		return ""
	}
	var parts []string
	for _, x := range c {
		if x.Type == "text" && x.Text != "" {
			parts = append(parts, x.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

// billingHeaderPrefix starts the attribution line Claude Code puts first in
// its system prompt; it must not reach non-Anthropic upstreams.
const billingHeaderPrefix = "x-anthropic-billing-header:"

// systemPrompt returns the blocks of the top-level system prompt that a
// non-Anthropic upstream should see: empty text blocks dropped, and
// Claude Code's billing-header line removed (§4.1.1). The blocks are
// copies; sys is not modified.
func systemPrompt(sys Content) Content {
	out := make(Content, 0, len(sys))
	for _, b := range sys {
		if b.Type != "text" {
			continue
		}
		if strings.HasPrefix(b.Text, billingHeaderPrefix) {
			rest := ""
			if i := strings.IndexByte(b.Text, '\n'); i >= 0 {
				rest = b.Text[i+1:]
			}
			if strings.TrimSpace(rest) == "" {
				continue
			}
			b.Text = rest
		}
		if b.Text == "" {
			continue
		}
		out = append(out, b)
	}
	return out
}
