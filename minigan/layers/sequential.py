"""Sequential: layers applied in order; backward runs them in reverse."""


class Sequential:
    """y = layers[-1](...layers[1](layers[0](x))).

    backward(dout) hands each layer's input gradient to the layer before it
    (the chain rule, read right to left) and returns dL/dx of the first input.

    ``params`` / ``grads`` are flat dicts over all layers, keyed "i.name" (e.g.
    "0.W", "3.gamma"; "2.0.W" for a nested Sequential). The arrays are the
    layers' own, so an optimizer that updates them in place updates the layers.
    """

    def __init__(self, *layers):
        self.layers = list(layers)

    @property
    def params(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def get_buffers(self):
        """Non-learned state of all layers, keyed like ``params`` ("1.running_mean", ...)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.get_buffers().items()}

    @property
    def training(self):
        return all(layer.training for layer in self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def __call__(self, x):
        return self.forward(x)

    def backward(self, dout, param_grads=True, input_grad=True):
        """param_grads=False: pass the gradient THROUGH the network without computing
        its own weight gradients (a frozen network, e.g. D while G trains).
        input_grad=False: the network's input is data or noise and dL/dx is not wanted
        (D while D trains, G while G trains). The first layer, if it has weights, then
        skips its input gradient (a whole matrix product) and None is returned."""
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            if i == 0 and not input_grad and layer.params:
                return layer.backward(dout, param_grads=param_grads, input_grad=False)  # None
            dout = layer.backward(dout, param_grads=param_grads)
        return dout

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()
        return self

    def train(self):
        for layer in self.layers:
            layer.train()
        return self

    def eval(self):
        for layer in self.layers:
            layer.eval()
        return self

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def to(self, device):
        for layer in self.layers:
            layer.to(device)
        return self

    def num_params(self):
        return sum(int(p.size) for p in self.params.values())

    def __repr__(self):
        lines = [f"  ({i}) {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
