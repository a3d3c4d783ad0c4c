package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// bytesPerAttempt is what one attempt in flight costs the tracker (its
// state, map entry and bookkeeping), rounded up.
const bytesPerAttempt = 512

// defaultMaxAttempts sizes --max-attempts from the memory available now:
// a quarter of it, between 100 thousand and 20 million attempts, or 2
// million when /proc/meminfo cannot be read.
func defaultMaxAttempts() int {
	avail := memAvailable()
	if avail <= 0 {
		return 2_000_000
	}
	return min(max(int(avail/4/bytesPerAttempt), 100_000), 20_000_000)
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
