//go:build windows

package main

import (
	"errors"
	"os"
	"syscall"
)

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// signalProcess sends sig to pid. Windows can only kill: other signals
// are refused.
func signalProcess(pid int, sig os.Signal) error {
	if sig != os.Kill {
		return errors.New("only os.Kill can be sent on Windows")
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// detachAttr starts a detached server without a console.
func detachAttr() *syscall.SysProcAttr {
	const detachedProcess = 0x00000008
	return &syscall.SysProcAttr{CreationFlags: detachedProcess, HideWindow: true}
}

// stopSignal asks a server to exit. Windows has no SIGTERM: the server
// exits at once, without draining.
func stopSignal() os.Signal { return os.Kill }
