module digital-recovery/tests/envtest/pause

go 1.26.0
