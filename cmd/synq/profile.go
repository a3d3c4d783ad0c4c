package main

import (
	"os"
	"runtime/pprof"
)

// startCPUProfile profiles the process into path until stop is called
// (the hidden --cpuprofile flag, for performance work).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
