# syntax=docker/dockerfile:1
# rulebot in a container: a static binary on distroless, run as a non-root
# user, with the rules at /rules/rules.yaml and the memory in /data.
#
#   docker build --build-arg SOURCE_VERSION=$(git rev-parse HEAD) -t rulebot .
#   docker run -d --name rulebot \
#     -v "$PWD/rules.yaml:/rules/rules.yaml:ro" -v rulebot-data:/data \
#     -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN rulebot
#   docker kill --signal HUP rulebot    # re-read the rules
#   docker stop -t 15 rulebot           # replies in flight get -grace (10s)

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The commit being built: there is no .git in the build context, so this is
# how `rulebot version` and the start-up log name the release.
ARG SOURCE_VERSION=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.sourceVersion=${SOURCE_VERSION}" \
      -o /out/rulebot ./cmd/rulebot \
 && /out/rulebot check rules.yaml \
 && mkdir /out/data

# distroless/static has CA certificates, /etc/passwd with nonroot (65532)
# and no shell; rulebot embeds its time zone database.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rulebot /rulebot
# The default rules, so that the image runs as is; mount yours over them.
COPY rules.yaml /rules/rules.yaml
# A named volume on /data starts with this directory's owner: the bot's user.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV RULEBOT_RULES=/rules/rules.yaml
# The memory file is rulebot.db in the working directory (the default
# -memory), that is /data/rulebot.db. With REDIS_URL set, memory is in Redis.
WORKDIR /data
VOLUME /data
# Exec form: rulebot is PID 1 and gets SIGTERM from `docker stop` and SIGHUP
# from `docker kill --signal HUP` itself. Flags go after the image name:
# docker run … rulebot -watch
ENTRYPOINT ["/rulebot", "run"]
