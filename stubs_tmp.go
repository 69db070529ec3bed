package ccr

// Temporary stand-ins, replaced when normalize.go, tokens.go and
// transform_openai.go land.

// ValidateRequest is replaced by normalize.go.
func ValidateRequest(req *Request) error {
	if req.Model == "" {
		return Errorf(400, "model: Field required")
	}
	if len(req.Messages) == 0 {
		return Errorf(400, "messages: Field required")
	}
	if req.MaxTokens <= 0 {
		return Errorf(400, "max_tokens: Field required")
	}
	return nil
}

// TokenCounter is replaced by tokens.go.
type TokenCounter struct{}

// NewTokenCounter is replaced by tokens.go.
func NewTokenCounter(int) *TokenCounter { return &TokenCounter{} }

// Count is replaced by tokens.go.
func (tc *TokenCounter) Count(req *Request) int {
	b, _ := req.MarshalJSON()
	return len(b) / 4
}

// NewOpenAI is replaced by transform_openai.go.
func NewOpenAI(opts OpenAIOptions) Transformer { return nil }
