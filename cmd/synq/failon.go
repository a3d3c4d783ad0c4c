package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/synq/synq/analyze"
)

// failOn is the --fail-on flag: verdict kinds that make synq exit with
// exitFound once the report is written, for cron jobs and fleet probes.
// "any" stands for every kind that names a problem.
type failOn struct {
	kinds *[]analyze.Kind
}

func (f failOn) String() string {
	if f.kinds == nil {
		return ""
	}
	s := make([]string, len(*f.kinds))
	for i, k := range *f.kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

func (f failOn) Type() string { return "kinds" }

// problemKinds are the kinds "any" means: all but healthy,
// not_enough_data and forwarded, which name no problem.
func problemKinds() []analyze.Kind {
	return slices.DeleteFunc(analyze.AllKinds(), func(k analyze.Kind) bool {
		return k == analyze.KindHealthy || k == analyze.KindNotEnoughData || k == analyze.KindForwarded
	})
}

func (f failOn) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "any" {
			*f.kinds = append(*f.kinds, problemKinds()...)
			continue
		}
		k := analyze.Kind(name)
		if !slices.Contains(analyze.AllKinds(), k) {
			var names []string
			for _, k := range analyze.AllKinds() {
				names = append(names, string(k))
			}
			return fmt.Errorf("unknown verdict kind %q: want any or one of %s", name, strings.Join(names, ", "))
		}
		*f.kinds = append(*f.kinds, k)
	}
	return nil
}

// failOnFound returns an exitFound error naming the first listener whose
// verdict is one of kinds with medium or high confidence (a low one is a
// guess, not an alert), or nil.
func failOnFound(r *analyze.Result, kinds []analyze.Kind) error {
	if len(kinds) == 0 {
		return nil
	}
	var hits []string
	for _, l := range r.Listeners {
		v := l.Diagnosis.Verdict
		if slices.Contains(kinds, v.Kind) && v.Confidence != analyze.Low {
			hits = append(hits, fmt.Sprintf("%s on %s (%s confidence)", v.Kind, l.Server, v.Confidence))
		}
	}
	if len(hits) == 0 {
		return nil
	}
	return withCode(exitFound, fmt.Errorf("--fail-on: found %s", strings.Join(hits, "; ")))
}
