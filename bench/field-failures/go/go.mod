module fetchpool/bench/fieldfailures

go 1.26.8

require (
	github.com/fetchpool/fetchpool/client-sdk/go v0.0.0
	github.com/valyala/fasthttp v1.78.0
	google.golang.org/grpc v1.85.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The generated fetchpool stubs come from the Go SDK's module in this
// repository (client-sdk/go/fetchpoolv1), not from a copy of their own.
replace github.com/fetchpool/fetchpool/client-sdk/go => ../../../client-sdk/go
