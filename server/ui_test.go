package main

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// get serves one request through h and returns the recorded response.
func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// assetPrefix returns the hashed asset directory that index.html refers to.
func assetPrefix(t *testing.T, h http.Handler) string {
	t.Helper()
	body := get(t, h, "GET", "/ui/", nil).Body.String()
	m := regexp.MustCompile(`href="([0-9a-f]{16})/app\.css"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("index.html does not link a hashed app.css:\n%s", body)
	}
	return "/ui/" + m[1] + "/"
}

func TestUIRedirect(t *testing.T) {
	t.Parallel()
	h := uiHandler("v1.2.3")
	tests := []struct {
		target, want string
	}{
		{"/ui", "/ui/"},
		{"/ui?x=1", "/ui/?x=1"},
	}
	for _, tt := range tests {
		rec := get(t, h, "GET", tt.target, nil)
		if rec.Code != http.StatusFound {
			t.Errorf("GET %s: status %d, want %d", tt.target, rec.Code, http.StatusFound)
		}
		if got := rec.Header().Get("Location"); got != tt.want {
			t.Errorf("GET %s: Location = %q, want %q", tt.target, got, tt.want)
		}
	}
}

func TestUIIndex(t *testing.T) {
	t.Parallel()
	h := uiHandler(`v1.2.3<x>`)
	for _, target := range []string{"/ui/", "/ui/index.html"} {
		rec := get(t, h, "GET", target, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, rec.Code)
		}
		hdr := rec.Header()
		checks := map[string]string{
			"Content-Type":           "text/html; charset=utf-8",
			"Cache-Control":          "no-cache",
			"X-Content-Type-Options": "nosniff",
		}
		for k, want := range checks {
			if got := hdr.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", target, k, got, want)
			}
		}
		if hdr.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", target)
		}
		csp := hdr.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", target, csp, want)
			}
		}
		body := rec.Body.String()
		if strings.Contains(body, "{{") {
			t.Errorf("GET %s: placeholder left in index.html", target)
		}
		if !strings.Contains(body, `content="v1.2.3&lt;x&gt;"`) {
			t.Errorf("GET %s: version not inserted HTML-escaped", target)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, `src="//`) {
			t.Errorf("GET %s: index.html refers to another origin", target)
		}
	}
}

func TestUIIndexConditional(t *testing.T) {
	t.Parallel()
	h := uiHandler("v1")
	etag := get(t, h, "GET", "/ui/", nil).Header().Get("ETag")
	rec := get(t, h, "GET", "/ui/", map[string]string{"If-None-Match": etag})
	if rec.Code != http.StatusNotModified {
		t.Errorf("GET /ui/ with If-None-Match %s: status %d, want 304", etag, rec.Code)
	}
}

func TestUIAssets(t *testing.T) {
	t.Parallel()
	h := uiHandler("v1")
	prefix := assetPrefix(t, h)
	tests := []struct {
		file, ctype, contains string
	}{
		{"app.css", "text/css; charset=utf-8", "--accent"},
		{"theme.js", "text/javascript; charset=utf-8", "ccr.theme"},
		{"js/app.js", "text/javascript; charset=utf-8", "import"},
		{"icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		rec := get(t, h, "GET", prefix+tt.file, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", tt.file, rec.Code)
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != tt.ctype {
			t.Errorf("GET %s: Content-Type = %q, want %q", tt.file, got, tt.ctype)
		}
		if got, want := rec.Header().Get("Cache-Control"), "public, max-age=31536000, immutable"; got != want {
			t.Errorf("GET %s: Cache-Control = %q, want %q", tt.file, got, want)
		}
		if !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("GET %s: body lacks %q", tt.file, tt.contains)
		}
	}

	// Every embedded file except index.html is served under the prefix, and
	// HEAD works too.
	err := fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "ui/index.html" {
			return err
		}
		name := strings.TrimPrefix(p, "ui/")
		for _, method := range []string{"GET", "HEAD"} {
			if rec := get(t, h, method, prefix+name, nil); rec.Code != http.StatusOK {
				t.Errorf("%s %s: status %d", method, name, rec.Code)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUINotFound(t *testing.T) {
	t.Parallel()
	h := uiHandler("v1")
	prefix := assetPrefix(t, h)
	tests := []struct {
		method, target string
		want           int
	}{
		{"GET", prefix + "missing.js", http.StatusNotFound},
		{"GET", "/ui/0000000000000000/app.css", http.StatusNotFound}, // an old hash
		{"GET", "/ui/app.css", http.StatusNotFound},
		{"GET", "/ui/js/app.js", http.StatusNotFound},
		{"GET", prefix, http.StatusNotFound},
		{"POST", "/ui/", http.StatusMethodNotAllowed},
		{"DELETE", prefix + "app.css", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		if rec := get(t, h, tt.method, tt.target, nil); rec.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.target, rec.Code, tt.want)
		}
	}
}

func TestUIHashDependsOnContentAndVersion(t *testing.T) {
	t.Parallel()
	a1 := assetPrefix(t, uiHandler("v1"))
	a2 := assetPrefix(t, uiHandler("v1"))
	b := assetPrefix(t, uiHandler("v2"))
	if a1 != a2 {
		t.Errorf("same version, different asset paths: %s, %s", a1, a2)
	}
	if a1 == b {
		t.Errorf("versions v1 and v2 share the asset path %s", a1)
	}
}

// TestUIModuleImports checks that every relative import in the JavaScript
// modules names an embedded file, so a typo cannot break the page silently.
func TestUIModuleImports(t *testing.T) {
	t.Parallel()
	importRe := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^"']*from\s+["'](\.[^"']+)["']`)
	files, err := fs.Glob(uiFiles, "ui/js/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("no modules found: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(uiFiles, f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			target := path.Join(path.Dir(f), m[1])
			if _, err := fs.Stat(uiFiles, target); err != nil {
				t.Errorf("%s imports %s, which is not embedded", f, m[1])
			}
		}
		// Values from the config and the logs are shown as text: building
		// markup from strings would let them inject HTML.
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %s", f, bad)
			}
		}
		// The CSP blocks style attributes; classes must be used instead.
		if strings.Contains(src, `style: "`) {
			t.Errorf("%s sets a style attribute, which the CSP blocks", f)
		}
	}
}

func TestUIAssetBodiesMatchEmbed(t *testing.T) {
	t.Parallel()
	h := uiHandler("v1")
	prefix := assetPrefix(t, h)
	want, err := fs.ReadFile(uiFiles, "ui/js/api.js")
	if err != nil {
		t.Fatal(err)
	}
	rec := get(t, h, "GET", prefix+"js/api.js", nil)
	got, _ := io.ReadAll(rec.Body)
	if string(got) != string(want) {
		t.Errorf("js/api.js served %d bytes, embedded %d", len(got), len(want))
	}
}
