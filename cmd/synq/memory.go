package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// bytesPerAttempt is what one attempt in flight costs the tracker at
// most, rounded up: a full state (448 bytes) with its index slot and
// queue entries; most attempts of a flood cost a quarter of it (light
// slots), but the bound has to hold for any mix. With --connections
// every attempt is full and carries Zeek's state (280 bytes) too.
const (
	bytesPerAttempt          = 512
	bytesPerAttemptConnState = 768
)

// defaultMaxAttempts sizes --max-attempts from the memory available now:
// a quarter of it, between 100 thousand and 20 million attempts, or 2
// million when /proc/meminfo cannot be read.
func defaultMaxAttempts(connState bool) int {
	avail := memAvailable()
	if avail <= 0 {
		return 2_000_000
	}
	per := int64(bytesPerAttempt)
	if connState {
		per = bytesPerAttemptConnState
	}
	return min(max(int(avail/4/per), 100_000), 20_000_000)
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes; 0 if unknown.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
