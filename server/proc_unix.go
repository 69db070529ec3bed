//go:build unix

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
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// signalProcess sends sig to pid.
func signalProcess(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// detachAttr puts a detached server in its own session, away from the
// terminal's signals.
func detachAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// stopSignal asks a server to drain and exit.
func stopSignal() os.Signal { return syscall.SIGTERM }
