//go:build !linux

package main

import "testing"

func runAsNobody(t *testing.T) { t.Skip("live capture is Linux only") }
