# syntax=docker/dockerfile:1
# Build: docker build -t stipend .
# Run:   docker run -p 8080:8080 -e STIPEND_REDIS_URL=redis://redis:6379/0 -e STIPEND_RPC_URL=... \
#          -e STIPEND_MINT=... -e STIPEND_MASTER_KEYS=k1:... -e STIPEND_PUBLIC_URL=https://pay.example.com stipend

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stipend ./cmd/stipend

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/stipend /stipend
USER nonroot:nonroot
EXPOSE 8080
ENV STIPEND_LISTEN=:8080
ENTRYPOINT ["/stipend"]
CMD ["serve", "--http", ":8080"]
