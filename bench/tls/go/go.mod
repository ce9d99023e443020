module fetchpool/bench/tls

go 1.26.8

require (
	github.com/fetchpool/fetchpool/client-sdk/go v0.0.0
	golang.org/x/net v0.60.0
	google.golang.org/grpc v1.85.0
)

require (
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The generated fetchpool stubs come from the Go SDK's module in this
// repository (client-sdk/go/fetchpoolv1).
replace github.com/fetchpool/fetchpool/client-sdk/go => ../../../client-sdk/go
