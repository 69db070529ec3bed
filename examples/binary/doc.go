// Package binary holds the example configuration for the bundled binary:
//
//	go run ./server -config examples/binary/config.json
//
// Its test checks that the file loads.
package binary
