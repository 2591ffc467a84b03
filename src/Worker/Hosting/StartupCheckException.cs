namespace Dedup.Worker.Hosting;

/// <summary>Redis or RabbitMQ could not be reached at start, or refused the worker; the message says which setting to check.</summary>
public sealed class StartupCheckException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StartupCheckException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
