//go:build !unix

package engine_test

import "time"

// cpuTime returns 0: the platform's CPU time is not read.
func cpuTime() time.Duration { return 0 }
