package main

import (
	"fmt"
	"io"
	"time"

	"github.com/outreach/outreach/daemon"
)

// progress draws one status line on a terminal while a sync runs: the
// mailbox, messages stored, the rate and, when the server's UIDNEXT is
// known, an estimate of the time left. Off a terminal it prints nothing.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, on bool, now time.Time) *progress {
	return &progress{w: w, on: on, start: now}
}

func (p *progress) update(u daemon.Progress) {
	now := time.Now()
	if !p.on || now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(u.Stored) / max(elapsed, 1e-3)
	line := fmt.Sprintf("%s/%s: %d stored, %.0f msg/s", u.Account, u.Mailbox, u.Stored, rate)
	if u.UIDNext > u.HighestUID && rate > 0 {
		left := float64(u.UIDNext-u.HighestUID-1) / rate
		line += fmt.Sprintf(", ~%s left", (time.Duration(left) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
