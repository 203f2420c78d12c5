// Package engine loads rules.yaml, compiles every regexp, expression,
// template and cron line in it once (keeping the file position of each),
// and decides what the bot does with one chat message or one occurrence of
// a schedule.
//
// The engine is pure: it imports nothing from Slack, sends nothing itself,
// reads the clock only through Options.Now, keeps the bot's memory
// (remember, recall, recall_all) only in the memory.Store it is given
// (Options.Memory; a RAM store by default), and reaches the network only
// through the *http.Client it is given, or, given none, through a
// netguard.Transport, which connects only to public addresses and to those
// bot.fetch.allow lists. A transport (Slack Socket Mode or RTM, the
// terminal chat, the golden test runner) turns an incoming event into a
// Message, calls Engine.Handle, and performs the Actions it returns, in
// order; it asks Rules.Schedules when schedule rules are due and calls
// Engine.Fire for each occurrence.
//
// Data flows one way:
//
//	rules.yaml --Compile--> *Rules --Engine.Swap--> Engine
//	Message --Engine.Handle--> []Action
//	schedule rule, time --Engine.Fire--> []Action
package engine
