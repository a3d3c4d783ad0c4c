package main

import (
	"fmt"
	"strconv"
	"strings"
)

// portList is a --port style flag: repeatable, each value a
// comma-separated list of ports or ranges ("80,443", "8000-8010"). Its
// errors name the flag and the value in the user's terms, not strconv's.
type portList struct {
	ports *[]uint
}

func (p portList) String() string {
	if p.ports == nil || len(*p.ports) == 0 {
		return ""
	}
	s := make([]string, len(*p.ports))
	for i, v := range *p.ports {
		s[i] = strconv.FormatUint(uint64(v), 10)
	}
	return strings.Join(s, ",")
}

func (p portList) Type() string { return "ports" }

// Set adds the ports of one flag value.
func (p portList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, errA := parsePort(lo)
		b := a
		var errB error
		if isRange {
			b, errB = parsePort(hi)
		}
		switch {
		case f == "":
			return fmt.Errorf("empty port in %q: want port numbers from 1 to 65535, comma-separated (80,443) or a range (8000-8010)", v)
		case errA != nil || errB != nil:
			return fmt.Errorf("%q is not a port: want a number from 1 to 65535, or a range such as 8000-8010", f)
		case b < a:
			return fmt.Errorf("range %q runs backwards: write the lower port first", f)
		case b-a >= 4096:
			return fmt.Errorf("range %q holds %d ports: at most 4096 in one range", f, b-a+1)
		}
		for port := a; port <= b; port++ {
			*p.ports = append(*p.ports, port)
		}
	}
	return nil
}

func parsePort(s string) (uint, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port")
	}
	return uint(n), nil
}
