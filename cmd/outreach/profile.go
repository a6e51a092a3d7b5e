package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes profiles of the whole run, for measuring (see
// scripts/bench-sync): a CPU profile to the file named by
// OUTREACH_CPUPROFILE, and the allocations made (pprof's allocs profile)
// to the file named by OUTREACH_MEMPROFILE. It returns the function that
// ends them.
func startProfile(getenv func(string) string) func() {
	cpu, mem := getenv("OUTREACH_CPUPROFILE"), getenv("OUTREACH_MEMPROFILE")
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "outreach: OUTREACH_CPUPROFILE: %v\n", err)
			f = nil
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			if err := writeAllocs(mem); err != nil {
				fmt.Fprintf(os.Stderr, "outreach: OUTREACH_MEMPROFILE: %v\n", err)
			}
		}
	}
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
