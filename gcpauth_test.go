package ccr

import (
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
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRSAKey is generated once for all tests in the package.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// serviceAccountJSON returns a service-account key file for testRSAKey.
func serviceAccountJSON(t testing.TB, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testRSAKey())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "proj-from-key",
		"private_key_id": "kid-1",
		"private_key":    string(pemKey),
		"client_email":   "router@proj-from-key.iam.gserviceaccount.com",
		"client_id":      "123",
		"token_uri":      tokenURI,
	})
	return b
}

// fakeTokenServer is a loopback OAuth token endpoint that verifies the
// JWT assertion against testRSAKey and counts token grants.
type fakeTokenServer struct {
	*httptest.Server
	calls   atomic.Int32
	gate    chan struct{} // if non-nil, each request waits for a value
	entered chan struct{} // if non-nil, signalled when a request arrives
	status  int           // if non-zero, the error status to answer with
	lastErr atomic.Value  // string: why the last assertion was rejected
}

func newFakeTokenServer(t *testing.T) *fakeTokenServer {
	t.Helper()
	f := &fakeTokenServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if f.entered != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
	}
	if f.gate != nil {
		<-f.gate
	}
	n := f.calls.Add(1)
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	if err := f.check(r); err != nil {
		f.lastErr.Store(err.Error())
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","error_description":%q}`, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":3599,"token_type":"Bearer"}`, n)
}

func (f *fakeTokenServer) check(r *http.Request) error {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return errors.New("not a form POST")
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != "rt-1" || r.PostForm.Get("client_id") != "cid" || r.PostForm.Get("client_secret") != "csecret" {
			return errors.New("bad refresh grant")
		}
		return nil
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
	default:
		return errors.New("bad grant_type")
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		return errors.New("assertion is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testRSAKey().PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var hdr struct{ Alg, Typ, Kid string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" || hdr.Typ != "JWT" || hdr.Kid != "kid-1" {
		return fmt.Errorf("header %s", hb)
	}
	var c struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &c); err != nil {
		return err
	}
	if c.Iss != "router@proj-from-key.iam.gserviceaccount.com" || c.Scope != "https://www.googleapis.com/auth/cloud-platform" ||
		c.Aud != f.URL+"/token" || c.Exp-c.Iat != 3600 {
		return fmt.Errorf("claims %s", cb)
	}
	return nil
}

func newTestTokenSource(t *testing.T, f *fakeTokenServer, clock *fakeClock) *gcpTokenSource {
	t.Helper()
	ts, err := newGCPTokenSource(serviceAccountJSON(t, f.URL+"/token"), "", f.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		ts.now = clock.now
	}
	return ts
}

func TestGCPTokenFetchedOnceReusedRefreshed(t *testing.T) {
	f := newFakeTokenServer(t)
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ts := newTestTokenSource(t, f, clock)
	ctx := t.Context()

	get := func(want string, wantCalls int32) {
		t.Helper()
		tok, err := ts.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v (server: %v)", err, f.lastErr.Load())
		}
		if tok != want || f.calls.Load() != wantCalls {
			t.Fatalf("Token = %q after %d calls; want %q after %d", tok, f.calls.Load(), want, wantCalls)
		}
	}
	get("tok-1", 1)
	get("tok-1", 1) // reused
	clock.advance(50 * time.Minute)
	get("tok-1", 1) // 59m59s lifetime: still more than 5 minutes left
	clock.advance(5 * time.Minute)
	get("tok-2", 2) // less than 5 minutes left: refreshed early
	get("tok-2", 2)
	ts.invalidate() // the upstream said 401
	get("tok-3", 3)
	clock.advance(2 * time.Hour) // long expired
	get("tok-4", 4)
}

func TestGCPTokenSingleFlight(t *testing.T) {
	f := newFakeTokenServer(t)
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 1)
	ts := newTestTokenSource(t, f, nil)

	var wg sync.WaitGroup
	toks := make([]string, 16)
	errs := make([]error, 16)
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = ts.Token(t.Context()) })
	}
	<-f.entered // one request is at the endpoint; the others wait for it

	// A caller whose context ends while it waits gives up at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ts.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Token with cancelled ctx = %v; want context.Canceled", err)
	}

	close(f.gate)
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != "tok-1" {
			t.Errorf("caller %d: %q, %v", i, toks[i], errs[i])
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times; want 1", n)
	}
}

func TestGCPTokenErrors(t *testing.T) {
	for _, tt := range []struct {
		status     int
		wantStatus int
		wantType   string
	}{
		{400, 401, "authentication_error"},
		{401, 401, "authentication_error"},
		{500, 502, "api_error"},
		{429, 502, "api_error"},
	} {
		f := newFakeTokenServer(t)
		f.status = tt.status
		ts := newTestTokenSource(t, f, nil)
		_, err := ts.Token(t.Context())
		var e *Error
		if !errors.As(err, &e) || e.status() != tt.wantStatus || e.typ() != tt.wantType {
			t.Errorf("status %d: err = %v; want %d %s", tt.status, err, tt.wantStatus, tt.wantType)
			continue
		}
		if tt.status == 400 && !strings.Contains(e.Message, "invalid_grant: Invalid JWT Signature.") {
			t.Errorf("message %q lacks the endpoint's reason", e.Message)
		}
		if strings.Contains(e.Message, "PRIVATE KEY") {
			t.Errorf("message leaks key material")
		}
	}
	// Unreachable endpoint.
	f := newFakeTokenServer(t)
	ts := newTestTokenSource(t, f, nil)
	f.Close()
	_, err := ts.Token(t.Context())
	var e *Error
	if !errors.As(err, &e) || e.status() != 502 {
		t.Errorf("closed endpoint: err = %v; want 502", err)
	}
}

func TestGCPAuthorizedUser(t *testing.T) {
	f := newFakeTokenServer(t)
	creds := `{"type":"authorized_user","client_id":"cid","client_secret":"csecret","refresh_token":"rt-1","quota_project_id":"qp"}`
	ts, err := newGCPTokenSource([]byte(creds), f.URL+"/token", f.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token(t.Context())
	if err != nil || tok != "tok-1" {
		t.Fatalf("Token = %q, %v (server: %v)", tok, err, f.lastErr.Load())
	}
}

func TestGCPCredentialsParse(t *testing.T) {
	good := serviceAccountJSON(t, "https://oauth2.googleapis.com/token")
	var m map[string]string
	json.Unmarshal(good, &m)
	escaped := strings.ReplaceAll(m["private_key"], "\n", `\n`)
	if _, err := gcpParseKey(escaped); err != nil {
		t.Errorf("key with literal \\n: %v", err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey())}))
	if _, err := gcpParseKey(pkcs1); err != nil {
		t.Errorf("PKCS #1 key: %v", err)
	}
	for name, bad := range map[string]string{
		"not json":      `{`,
		"wrong type":    `{"type":"external_account"}`,
		"no key":        `{"type":"service_account","client_email":"a@b"}`,
		"bad pem":       `{"type":"service_account","client_email":"a@b","private_key":"nope"}`,
		"user missing":  `{"type":"authorized_user","client_id":"x"}`,
		"bad token uri": strings.Replace(string(good), "https://oauth2.googleapis.com/token", "ftp://x", 1),
	} {
		if _, err := newGCPTokenSource([]byte(bad), "", nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s: error leaks key: %v", name, err)
		}
	}
}
