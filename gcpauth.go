package ccr

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file obtains Google OAuth access tokens for Vertex AI from a
// credentials JSON file, with the standard library only: a service-account
// key is exchanged through a self-signed RS256 JWT (RFC 7523), gcloud's
// authorized-user credentials through their refresh token.

const (
	gcpDefaultTokenURL = "https://oauth2.googleapis.com/token"
	gcpScope           = "https://www.googleapis.com/auth/cloud-platform"
	// gcpRefreshMargin is how long before expiry a token is refreshed.
	gcpRefreshMargin = 5 * time.Minute
)

// gcpCredentials is a Google credentials file: a service-account key
// ("type":"service_account") or gcloud's application-default user
// credentials ("type":"authorized_user").
type gcpCredentials struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id"`
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKey     string `json:"private_key"`
	ClientEmail    string `json:"client_email"`
	TokenURI       string `json:"token_uri"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	RefreshToken   string `json:"refresh_token"`
	QuotaProjectID string `json:"quota_project_id"`
}

// gcpTokenSource returns cached access tokens, refreshing them shortly
// before they expire. Concurrent callers share one refresh. It is safe for
// concurrent use.
type gcpTokenSource struct {
	creds    gcpCredentials
	key      *rsa.PrivateKey // service accounts only
	tokenURL string
	client   *http.Client
	now      func() time.Time

	sem chan struct{} // held by the one caller refreshing

	mu        sync.Mutex
	token     string
	refreshAt time.Time
}

// parseGCPCredentials decodes and checks a credentials file.
func parseGCPCredentials(data []byte) (gcpCredentials, *rsa.PrivateKey, error) {
	var c gcpCredentials
	if err := json.Unmarshal(data, &c); err != nil {
		return c, nil, fmt.Errorf("vertex: credentials: %w", err)
	}
	switch c.Type {
	case "service_account":
		if c.ClientEmail == "" || c.PrivateKey == "" {
			return c, nil, errors.New("vertex: credentials: service account without client_email or private_key")
		}
		key, err := gcpParseKey(c.PrivateKey)
		if err != nil {
			return c, nil, err
		}
		return c, key, nil
	case "authorized_user":
		if c.ClientID == "" || c.ClientSecret == "" || c.RefreshToken == "" {
			return c, nil, errors.New("vertex: credentials: authorized_user without client_id, client_secret or refresh_token")
		}
		return c, nil, nil
	}
	return c, nil, fmt.Errorf("vertex: credentials: unsupported type %q (want service_account or authorized_user)", c.Type)
}

// gcpParseKey parses a PEM RSA private key, PKCS #8 or PKCS #1. A key
// pasted with literal "\n" sequences is accepted too.
func gcpParseKey(s string) (*rsa.PrivateKey, error) {
	if !strings.Contains(s, "\n") {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("vertex: credentials: private_key is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("vertex: credentials: private_key is not an RSA key")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("vertex: credentials: private_key: %w", err)
	}
	return k, nil
}

// newGCPTokenSource returns a token source for the credentials in data.
// tokenURL overrides the file's token_uri when not empty; rt is the
// transport for token requests (nil means a private clone of
// [http.DefaultTransport]).
func newGCPTokenSource(data []byte, tokenURL string, rt http.RoundTripper) (*gcpTokenSource, error) {
	c, key, err := parseGCPCredentials(data)
	if err != nil {
		return nil, err
	}
	if tokenURL == "" {
		tokenURL = c.TokenURI
	}
	if tokenURL == "" {
		tokenURL = gcpDefaultTokenURL
	}
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("vertex: credentials: bad token_uri %q", tokenURL)
	}
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &gcpTokenSource{
		creds:    c,
		key:      key,
		tokenURL: tokenURL,
		client:   &http.Client{Transport: rt},
		now:      time.Now,
		sem:      make(chan struct{}, 1),
	}, nil
}

// Token returns a valid access token, fetching one with ctx when the cached
// one is missing or near expiry. Errors are *Error values: a rejected
// credential is a 401 authentication_error, other failures 502.
func (ts *gcpTokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := ts.cached(); ok {
		return tok, nil
	}
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-ts.sem }()
	if tok, ok := ts.cached(); ok { // refreshed while we waited
		return tok, nil
	}
	tok, lifetime, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	margin := min(gcpRefreshMargin, lifetime/2)
	ts.mu.Lock()
	ts.token, ts.refreshAt = tok, ts.now().Add(lifetime-margin)
	ts.mu.Unlock()
	return tok, nil
}

func (ts *gcpTokenSource) cached() (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.refreshAt) {
		return ts.token, true
	}
	return "", false
}

// invalidate drops the cached token, after the upstream rejected it.
func (ts *gcpTokenSource) invalidate() {
	ts.mu.Lock()
	ts.token = ""
	ts.mu.Unlock()
}

// fetch performs one token request.
func (ts *gcpTokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{}
	if ts.creds.Type == "service_account" {
		jwt, err := ts.assertion()
		if err != nil {
			return "", 0, &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "vertex: cannot sign token request", Err: err}
		}
		form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		form.Set("assertion", jwt)
	} else {
		form.Set("grant_type", "refresh_token")
		form.Set("client_id", ts.creds.ClientID)
		form.Set("client_secret", ts.creds.ClientSecret)
		form.Set("refresh_token", ts.creds.RefreshToken)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("vertex: token request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	resp, err := ts.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return "", 0, err
		}
		return "", 0, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "vertex: token endpoint unreachable", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "vertex: token endpoint read failed", Err: err}
	}
	var tr struct {
		AccessToken      string          `json:"access_token"`
		ExpiresIn        json.RawMessage `json:"expires_in"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode/100 != 2 {
		msg := "vertex: token request rejected (status " + strconv.Itoa(resp.StatusCode) + ")"
		if tr.Error != "" {
			msg += ": " + gcpSafeText(tr.Error)
			if tr.ErrorDescription != "" {
				msg += ": " + gcpSafeText(tr.ErrorDescription)
			}
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return "", 0, &Error{Status: http.StatusUnauthorized, Type: "authentication_error", Message: msg}
		}
		return "", 0, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: msg}
	}
	if tr.AccessToken == "" {
		return "", 0, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "vertex: token endpoint returned no access_token"}
	}
	secs, err := strconv.ParseFloat(strings.Trim(string(tr.ExpiresIn), `"`), 64)
	if err != nil || secs <= 0 {
		secs = 3600 // Google's documented lifetime
	}
	return tr.AccessToken, time.Duration(secs * float64(time.Second)), nil
}

// gcpSafeText bounds text from the token endpoint before it is shown.
func gcpSafeText(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// assertion returns the signed JWT a service account exchanges for a
// token.
func (ts *gcpTokenSource) assertion() (string, error) {
	iat := ts.now().Unix()
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid,omitempty"`
	}{"RS256", "JWT", ts.creds.PrivateKeyID})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{ts.creds.ClientEmail, gcpScope, ts.tokenURL, iat, iat + 3600})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	var buf bytes.Buffer
	buf.WriteString(enc.EncodeToString(header))
	buf.WriteByte('.')
	buf.WriteString(enc.EncodeToString(claims))
	sum := sha256.Sum256(buf.Bytes())
	sig, err := rsa.SignPKCS1v15(rand.Reader, ts.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	buf.WriteByte('.')
	buf.WriteString(enc.EncodeToString(sig))
	return buf.String(), nil
}
