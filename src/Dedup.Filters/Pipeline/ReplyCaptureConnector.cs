using MassTransit;

namespace Dedup.Pipeline;

/// <summary>Connects <see cref="ReplyCapture"/> to one receive endpoint (dedup configured on the endpoint, not the bus).</summary>
internal sealed class ReplyCaptureConnector : IReceiveEndpointObserver
{
    int _connected;

    public Task Ready(ReceiveEndpointReady ready)
    {
        // Ready fires again after every reconnection; one observer per endpoint, or replies would be recorded twice.
        if (Interlocked.Exchange(ref _connected, 1) == 0)
            ready.ReceiveEndpoint.ConnectSendObserver(new ReplyCapture());
        return Task.CompletedTask;
    }

    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;
}
