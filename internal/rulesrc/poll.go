package rulesrc

import (
	"context"
	"log/slog"
	"time"
)

// DefaultPoll is how often Poll fetches when given no interval (-poll).
const DefaultPoll = time.Minute

// Poll fetches src every interval (DefaultPoll when every <= 0) until ctx
// is done, and calls onChange with the new bytes each time they changed.
// The caller makes the first Fetch itself (a failure at start-up is fatal
// there), so Poll waits one interval before its first.
//
// A failed fetch is logged at WARN once per distinct error, not at every
// interval, and once at INFO when fetching works again; Poll never stops on
// an error. onChange runs on Poll's goroutine: while it runs, no fetch is
// made. log nil is slog.Default().
func Poll(ctx context.Context, log *slog.Logger, src Source, every time.Duration, onChange func([]byte)) {
	if log == nil {
		log = slog.Default()
	}
	if every <= 0 {
		every = DefaultPoll
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := "" // the error last logged, while fetches fail
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, changed, err := src.Fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if msg := err.Error(); msg != failing {
				log.Warn("fetching the rules failed; keeping the current rules", "error", msg)
				failing = msg
			}
			continue
		}
		if failing != "" {
			log.Info("fetching the rules works again", "rules", src.Name())
			failing = ""
		}
		if changed {
			onChange(b)
		}
	}
}
