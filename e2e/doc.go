// Package e2e holds end-to-end tests of ccr with real third-party clients:
// the official Anthropic Go SDK, the Claude Code CLI and a headless
// Chromium driven by chromedp. It is a separate module so that users of
// the library never download these dependencies.
package e2e
