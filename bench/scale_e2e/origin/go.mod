module fetchpool/bench/scaleorigin

go 1.21
