"""Depthwise convolution with a faster weight gradient for large kernels on the CPU.

On the CPU, PyTorch's weight gradient of a depthwise convolution with a 5x5 kernel (the Type-B
head's bottlenecks and MobileNetV3's) takes several times as long as the convolution itself,
static (groups = C) or dynamic (batch as groups, N * C groups). The same gradient written as one
more depthwise convolution, of the input with the output gradient as its kernel, costs about a
forward (docs/benchmarks.md: the training step, with and without). 3x3 kernels keep PyTorch's
gradient, which measured as fast or faster at the demo model's shapes. Static depthwise layers
(`DepthwiseConv2d`) and the dynamic layers' per-sample depthwise path (`DynamicConv2d`) both go
through `depthwise_conv2d`.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# Kernels at least this large (in either axis) take the convolution-form weight gradient.
LARGE_KERNEL = 5
_enabled = True


@contextlib.contextmanager
def torch_weight_grad():
    """Within this block every depthwise layer takes PyTorch's own weight gradient.

    For side-by-side timing (``tools/benchmark.py train-step``, the ``-torch-dw-grad`` variants)
    and for tests that compare the two gradients.
    """
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size, stride, padding,
                          dilation) -> torch.Tensor:
    """Weight gradient of a depthwise convolution (one filter per channel), as a convolution.

    ``out[n, c, h, w] = sum_ij W[c, i, j] * xpad[n, c, s*h + d*i, s*w + d*j]``, so
    ``dW[c, i, j] = sum_nhw go[n, c, h, w] * xpad[n, c, d*i + s*h, d*j + s*w]``: per (sample,
    channel) plane, a convolution of the input with the output gradient as its kernel, stride and
    dilation exchanged; one grouped call over the N * C planes (free views of contiguous
    tensors), then the sum over the batch.

    Args:
        x: (N, C, H, W) contiguous input; grad_out: (N, C, H_out, W_out) contiguous.
        kernel_size, stride, padding, dilation: pairs, as the forward convolution's.
    Returns:
        (C, 1, kh, kw), the gradient of the (C, 1, kh, kw) weight.
    """
    n, c, h, w = x.shape
    kh, kw = kernel_size
    planes = x.reshape(1, n * c, h, w)
    kernels = grad_out.reshape(n * c, 1, *grad_out.shape[2:])
    # The output is at least (kh, kw) (see the forward's output size); the rest is cropped.
    grad = F.conv2d(planes, kernels, None, dilation, padding, stride, n * c)[0, :, :kh, :kw]
    return grad.reshape(n, c, kh, kw).sum(0).reshape(c, 1, kh, kw)


class _DepthwiseConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, stride, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, dilation)
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.conv
        grad_out = grad_out.contiguous()
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, list(stride), list(padding), list(dilation), False,
                [0, 0], x.shape[1], [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad_out, weight.shape[2:], stride, padding, dilation)
        return grad_x, grad_w, None, None, None


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def uses_large_kernel_grad(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `depthwise_conv2d` takes the convolution-form weight gradient for these tensors."""
    return (_enabled and x.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled()
            and max(weight.shape[2:]) >= LARGE_KERNEL and weight.shape[1] == 1
            and weight.shape[0] == x.shape[1] and x.is_contiguous()
            and not torch.jit.is_scripting() and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export())


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride=1, padding=0,
                     dilation=1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)`` with one filter per channel.

    Args:
        x: (N, C, H, W); weight: (C, 1, kh, kw); bias: (C,) or None.
    Returns:
        (N, C, H_out, W_out). The values are F.conv2d's; only the weight gradient's arithmetic
        differs for large kernels on the CPU (``uses_large_kernel_grad``), equal up to rounding.
    """
    if not uses_large_kernel_grad(x, weight):
        return F.conv2d(x, weight, bias, stride, padding, dilation, x.shape[1])
    out = _DepthwiseConv2dFunction.apply(x, weight, _pair(stride), _pair(padding), _pair(dilation))
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d`` with ``groups == in_channels == out_channels``, through `depthwise_conv2d`.

    Same parameters and state dict as ``nn.Conv2d``; only the training step's weight gradient for
    large kernels on the CPU is computed differently.
    """

    def __init__(self, channels: int, kernel_size, stride=1, padding=0, dilation=1, bias: bool = False):
        super().__init__(channels, channels, kernel_size, stride, padding, dilation, channels, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(x)
        return depthwise_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
