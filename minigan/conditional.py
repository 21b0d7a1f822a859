"""Networks of two inputs: G(z, y) and D(x, y), where y is a class label.

A ``Sequential`` takes one input. A conditional network takes two, so it is
written out as a small class whose forward and backward say, line by line, where
the label goes in and where its gradient comes back out:

    G(z, y) = body([z, embed(y)])                                    (Mirza and Osindero, 2014)
    G(z, y) = the layers in order, each ConditionalBatchNorm given y  (de Vries et al., 2017)
    D(x, y) = head(h) + <project(y), h>,   h = body([x, plane(y)])   (Miyato and Koyama, 2018)

[a, b] is ``Concat`` (axis 1: features of z, channels of an image) and <., .> is
``Projection``. Both backward passes return one gradient per input, (dz, None) or
(dx, None): integer labels have no gradient, but the embeddings that read them
learn, so their weight gradients are always computed.

Both classes are ``Sequential``s that write their own forward and backward, so they
keep its plumbing (``params``/``grads`` keyed "i.name" over ``layers``, ``zero_grad``,
``train``/``eval``, ``to``, ``astype``), and the optimizer, the checkpoint and
``gradcheck.check_layer`` treat them like any network.
"""

from .layers import Concat, ConditionalBatchNorm, Projection, Sequential


class TwoInputNetwork(Sequential):
    """What G(z, y) and D(x, y) share: their parts in ``layers``, with a Sequential's
    plumbing (params, grads, buffers, zero_grad, train/eval, to, astype); each one
    writes its own forward(a, y) and backward."""

    def __call__(self, x, y):
        return self.forward(x, y)


class ConditionalGenerator(TwoInputNetwork):
    """G(z, y) = body([z, embed(y)]).

    z: (N, latent_dim) noise, y: (N,) integer labels  ->  body's output, e.g. (N, C, 28, 28)
    embed: an Embedding(num_classes, E), so body's input is (N, latent_dim + E).
    Backward: body hands back d[z, e]; Concat cuts it into dz and de; de trains embed.
    Why concatenate: the first Dense then adds W_e @ embed(y) to every unit, a
    class-dependent shift of the whole generator.
    """

    def __init__(self, embed, body):
        self.embed, self.join, self.body = embed, Concat(), body
        self.layers = [embed, self.join, body]  # (the order names the params: "0.W" is the embedding)
        self.num_classes = embed.num_embeddings

    def forward(self, z, y):
        return self.body.forward(self.join.forward(z, self.embed.forward(y)))

    def backward(self, dout, param_grads=True, input_grad=True):
        """Returns (dz, None); dz is None when input_grad=False (noise needs no gradient).
        param_grads=False: the gradient only passes through (nobody trains G that way)."""
        dh = self.body.backward(dout, param_grads=param_grads)  # (N, latent_dim + E)
        dz, de = self.join.backward(dh)
        self.embed.backward(de, param_grads=param_grads)
        return (dz if input_grad else None), None


class ConditionalNormGenerator(TwoInputNetwork):
    """G(z, y): the layers applied in order to z, where every ConditionalBatchNorm also
    reads the label y (its gain and bias are y's rows).

    z: (N, latent_dim) noise, y: (N,) integer labels  ->  the last layer's output, e.g. (N, C, 28, 28)
    Backward: the chain rule right to left, as Sequential's; a ConditionalBatchNorm
    returns (dx, None) and its dx goes on to the layer before it.
    Why the label enters here and not beside z: the label then scales and shifts the
    features at every normalised layer, and z keeps the first layer's weights to itself,
    so the noise cannot be drowned out by the label (the concatenated design collapsed
    to one drawing per class: see conditional_dcgan).
    """

    def __init__(self, *layers):
        self.layers = list(layers)
        self.num_classes = next(layer.num_classes for layer in layers if isinstance(layer, ConditionalBatchNorm))

    def forward(self, z, y):
        h = z
        for layer in self.layers:
            h = layer.forward(h, y) if isinstance(layer, ConditionalBatchNorm) else layer.forward(h)
        return h

    def backward(self, dout, param_grads=True, input_grad=True):
        """Returns (dz, None); dz is None when input_grad=False (noise needs no gradient)."""
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            if i == 0 and not input_grad and layer.params:
                layer.backward(dout, param_grads=param_grads, input_grad=False)  # the first Dense: dW only
                return None, None
            dout = layer.backward(dout, param_grads=param_grads)
            if isinstance(layer, ConditionalBatchNorm):
                dout, _ = dout  # (dx, None): labels have no gradient
        return dout, None


class ConditionalDiscriminator(TwoInputNetwork):
    """D(x, y) = head(h) + <project(y), h>,   h = body([x, plane(y)]).

    x: (N, C, H, W) images, y: (N,) integer labels  ->  logits (N, 1)
    plane:   Sequential(Embedding(num_classes, H*W), Reshape((1, H, W))): the label as one
             learned extra image channel, so the first convolution sees it next to the pixels
    body:    (N, C + 1, H, W) -> features h (N, F)
    head:    Dense(F, 1): how real the features look, whatever the label
    project: Embedding(num_classes, F): <project(y), h> says how well h fits THIS label
    Backward: the logit's gradient reaches h twice (through head and through the
    projection) and the two add; body's input gradient is cut into dx and the plane's.
    """

    def __init__(self, plane, body, head, project):
        self.plane, self.join, self.body, self.head = plane, Concat(), body, head
        self.project, self.dot = project, Projection()
        self.layers = [plane, self.join, body, head, project, self.dot]
        self.num_classes = project.num_embeddings

    def forward(self, x, y):
        h = self.body.forward(self.join.forward(x, self.plane.forward(y)))  # (N, F)
        return self.head.forward(h) + self.dot.forward(h, self.project.forward(y))  # (N, 1)

    def backward(self, dout, param_grads=True, input_grad=True):
        """Returns (dx, None). param_grads=False: only the gradient for x (D frozen,
        G training); input_grad=False is accepted for the trainer's sake, but dx is
        computed anyway: the label plane's gradient comes out of the same product."""
        dh_head = self.head.backward(dout, param_grads=param_grads)  # (N, F)
        dh_dot, de = self.dot.backward(dout)  # (N, F) each
        self.project.backward(de, param_grads=param_grads)
        dxp = self.body.backward(dh_head + dh_dot, param_grads=param_grads)  # (N, C + 1, H, W)
        dx, dplane = self.join.backward(dxp)
        self.plane.backward(dplane, param_grads=param_grads)
        return (dx if input_grad else None), None
