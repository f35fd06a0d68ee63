# GPU image for score workers (and the trainer's frozen prefix): ONNX Runtime's CUDA execution provider on
# CUDA 12 + cuDNN 9, the stack ONNX Runtime 1.30's CUDA build links against, with kernels for current
# data-centre GPUs (sm_80 A100, sm_90 H100). The workers pick it up by themselves: `--engine onnx` opens its
# sessions with ['cuda', 'cpu'] when libonnxruntime_providers_cuda.so is beside the binding (docs/gpu.md).
#   docker build -f infra/gpu.Dockerfile -t registry.example.com/cxr-gpu .
#   docker run --rm --gpus all registry.example.com/cxr-gpu worker --engine onnx --inference shared ...
# The host needs an NVIDIA driver for CUDA 12 (>= 525) and the NVIDIA Container Toolkit (Kubernetes: the
# device plugin). TF.js on the GPU (tfjs-node-gpu, CUDA 11) is a separate image: infra/gpu-tfjs.Dockerfile.
# Not built or run here (no Docker engine, no GPU): see docs/gpu.md for what was and was not checked.

# Build: all dependencies (TypeScript for dist/), the CUDA provider libraries, the backbone; then the
# development dependencies pruned, so that the runtime stage copies production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY models ./models
# npm ci skips onnxruntime-node's install script (allowScripts in package.json; ONNXRUNTIME_NODE_INSTALL=skip
# on npms that predate it), so it is run here on purpose: it downloads the CUDA 12 provider libraries
# (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux, the npm package's version) beside the binding. The build
# fails if they did not arrive.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && node dist/cli/index.js models fetch-backbone \
 && npm prune --omit=dev \
 && npm cache clean --force

FROM node:24-bookworm-slim AS node

# CUDA 12 runtime libraries (cudart, cublas, cufft, curand) and cuDNN 9. Ubuntu 24.04 (glibc 2.39) runs the
# official Node 24 binary, copied from the Node image.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 10001 cxr && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cxr
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
# Writable only where the manifests mount volumes over the read-only root filesystem (and here, for docker run).
RUN mkdir -p models/.cache/s3-models models/.cache/onnx models/.cache/features models/.cache/activations \
 && chown cxr:cxr models/.cache/s3-models models/.cache/onnx models/.cache/features models/.cache/activations
ENV NODE_ENV=production CXR_ENGINE=onnx
USER 10001:10001
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["--help"]
