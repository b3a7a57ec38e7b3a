// Image builds for bee-trace (docker buildx bake). In CI, see
// .github/workflows/action.yml (image) and cross-platform.yml (matrix).
//
//   docker buildx bake image             the runtime image, amd64 and arm64
//   docker buildx bake scan              Trivy scan of the runtime image
//   docker buildx bake matrix            unit tests on every supported distribution

variable "REGISTRY" {
  default = "ghcr.io/bee-trace"
}

variable "VERSION" {
  default = "0.1.0"
}

variable "REVISION" {
  default = "unknown"
}

variable "CREATED" {
  default = "unknown"
}

variable "TRIVY_IMAGE" {
  // pinned by digest in CI through this variable; a tag here for local use
  default = "aquasec/trivy:0.57.1"
}

group "default" {
  targets = ["image"]
}

target "_common" {
  context   = "."
  platforms = ["linux/amd64", "linux/arm64"]
}

// the runtime image, with an SBOM and provenance attested
target "image" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile"
  target     = "runtime"
  tags       = ["${REGISTRY}/bee-trace:${VERSION}"]
  args = {
    VERSION  = VERSION
    REVISION = REVISION
    CREATED  = CREATED
  }
  attest = [
    "type=sbom",
    "type=provenance,mode=max",
  ]
}

// Trivy over the runtime image's file system: fails on HIGH and CRITICAL
// findings that have a fix. The result is exported, not pushed.
target "scan" {
  dockerfile = "docker/Dockerfile.scan"
  context    = "."
  contexts = {
    runtime = "target:image-local"
    trivy   = "docker-image://${TRIVY_IMAGE}"
  }
  output = ["type=local,dest=reports/trivy"]
}

// the runtime image for the build platform only, to feed the scan
target "image-local" {
  inherits  = ["image"]
  platforms = []
  attest    = []
  tags      = []
}

// unit tests on one distribution, BASE from the environment:
//   BASE=alpine:3.19 docker buildx bake distro --set distro.platform=linux/arm64
variable "BASE" {
  default = "debian:12-slim"
}

target "distro" {
  context    = "."
  dockerfile = "docker/Dockerfile.matrix"
  args       = { BASE = BASE }
  output     = ["type=cacheonly"]
}

// every supported distribution at once, on both platforms (cross-platform.yml
// runs the same pairs as separate jobs)
variable "DISTROS" {
  default = [
    { name = "ubuntu-20-04", base = "ubuntu:20.04" },
    { name = "ubuntu-22-04", base = "ubuntu:22.04" },
    { name = "ubuntu-24-04", base = "ubuntu:24.04" },
    { name = "rhel-8", base = "registry.access.redhat.com/ubi8/ubi:8.10" },
    { name = "rhel-9", base = "registry.access.redhat.com/ubi9/ubi:9.5" },
    { name = "alpine-3-19", base = "alpine:3.19" },
    { name = "amazonlinux-2023", base = "amazonlinux:2023" },
  ]
}

target "matrix" {
  name     = "matrix-${d.name}"
  matrix   = { d = DISTROS }
  inherits = ["_common", "distro"]
  args     = { BASE = d.base }
}
