//go:build !unix && !windows

package main

import (
	"errors"
	"os"
	"syscall"
)

func processAlive(pid int) bool { return false }

func signalProcess(pid int, sig os.Signal) error {
	return errors.New("signals are not supported on this system")
}

func detachAttr() *syscall.SysProcAttr { return nil }

func stopSignal() os.Signal { return os.Kill }
