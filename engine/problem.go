package engine

import "github.com/rulebot/rulebot/internal/yamlpos"

// A Problem is one positioned error or warning found in a rules file.
type Problem = yamlpos.Problem

// ErrorList is the error Compile returns: every problem found in a file,
// sorted by position. It may hold warnings too; it is only returned when at
// least one problem is an error.
type ErrorList = yamlpos.ErrorList
