"""``cupy.cuda.runtime`` of the strict stand-in."""


def getDeviceCount():
    return 1


def getDeviceProperties(device):
    from . import NAME

    return {"name": NAME.encode(), "multiProcessorCount": 0, "totalGlobalMem": 0}


def deviceSynchronize():
    pass
