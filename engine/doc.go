// Package engine loads rules.yaml, compiles every regexp, expression and
// template in it once (keeping the file position of each), and decides what
// the bot does with one chat message.
//
// The engine is pure: it imports nothing from Slack, sends nothing itself and
// reaches the network only through the *http.Client it is given, or, given
// none, through a netguard.Transport, which connects only to public
// addresses and to those bot.fetch.allow lists. A
// transport (Slack Socket Mode or RTM, the terminal chat, the golden test
// runner) turns an incoming event into a Message, calls Engine.Handle, and
// performs the Actions it returns, in order.
//
// Data flows one way:
//
//	rules.yaml --Compile--> *Rules --Engine.Swap--> Engine
//	Message --Engine.Handle--> []Action
package engine
