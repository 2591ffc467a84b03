using FsCheck;
using FsCheck.Fluent;

namespace Dedup.Filters.Tests.Property;

public enum StepKind
{
    Claim,
    Renew,
    Complete,
    Release,
    Pass,
    Remove,
}

/// <summary>How much time a <see cref="StepKind.Pass"/> step lets pass (see <see cref="ProtocolTimings"/>).</summary>
public enum Pause
{
    Moment,
    Lease,
    PastLease,
    PastRetention,
}

/// <summary>One step of a run: an owner acting on a key, time passing, or an operator deleting a key.</summary>
public sealed record Step(StepKind Kind, int Owner = 0, int Key = 0, bool OtherPayload = false, Pause Pause = Pause.Moment)
{
    public override string ToString() => Kind switch
    {
        StepKind.Pass => $"Pass({Pause})",
        StepKind.Remove => $"Remove(k{Key})",
        StepKind.Claim when OtherPayload => $"Claim(o{Owner}, k{Key}, other payload)",
        _ => $"{Kind}(o{Owner}, k{Key})",
    };
}

/// <summary>A generated run: 3 or 4 owners on 1 or 2 keys, up to 15 steps.</summary>
public sealed record Scenario(int Owners, int Keys, Step[] Steps)
{
    public override string ToString() => $"{Owners} owners, {Keys} key(s): {string.Join(", ", Steps.AsEnumerable())}";
}

/// <summary>FsCheck's generator and shrinker for <see cref="Scenario"/>; shrinking drops steps first, then simplifies them.</summary>
public static class ScenarioArbitrary
{
    public static Arbitrary<Scenario> Scenario() => Arb.From(Generate(), Shrink);

    static Gen<Scenario> Generate() =>
        from owners in Gen.Choose(3, 4)
        from keys in Gen.Choose(1, 2)
        from length in Gen.Choose(4, 15)
        from steps in Steps(owners, keys, length, [])
        select new Scenario(owners, keys, steps);

    // Built step by step, so an owner that renews, completes or releases is mostly the key's likely holder or one
    // that claimed it earlier in the run (blind choices rarely meet a claim), and claims mostly go to keys already in
    // play (so they meet live leases, waiters, takeovers and completed records).
    static Gen<Step[]> Steps(int owners, int keys, int remaining, Step[] done) =>
        remaining == 0
            ? Gen.Constant(done)
            : Next(owners, keys, done).SelectMany(step => Steps(owners, keys, remaining - 1, [.. done, step]));

    static Gen<Step> Next(int owners, int keys, Step[] done)
    {
        var owner = Gen.Choose(0, owners - 1);
        var anyKey = Gen.Choose(0, keys - 1);
        var claimed = done.Where(s => s.Kind == StepKind.Claim).Select(s => (s.Owner, s.Key)).Distinct().ToArray();
        var holders = LikelyHolders(done);
        var key = claimed.Length == 0 ? anyKey : Gen.Frequency((3, Gen.Elements(claimed.Select(c => c.Key).ToArray())), (1, anyKey));
        var anyone = from o in owner from k in anyKey select (o, k);
        var actor = claimed.Length == 0
            ? anyone
            : holders.Length == 0
                ? Gen.Frequency((4, Gen.Elements(claimed)), (1, anyone))
                : Gen.Frequency((4, Gen.Elements(holders)), (2, Gen.Elements(claimed)), (1, anyone));
        Gen<Step> Acting(StepKind kind) => actor.Select(a => new Step(kind, a.Item1, a.Item2));
        var claim =
            from o in owner
            from k in key
            from other in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
            select new Step(StepKind.Claim, o, k, OtherPayload: other);
        var pause = Gen.Frequency(
            (3, Gen.Constant(Pause.Moment)),
            (2, Gen.Constant(Pause.Lease)),
            (2, Gen.Constant(Pause.PastLease)),
            (1, Gen.Constant(Pause.PastRetention)));
        return Gen.Frequency(
            (6, claim),
            (3, Acting(StepKind.Renew)),
            (2, Acting(StepKind.Complete)),
            (1, Acting(StepKind.Release)),
            (3, pause.Select(p => new Step(StepKind.Pass, Pause: p))),
            (1, anyKey.Select(k => new Step(StepKind.Remove, Key: k))));
    }

    // Per key, the first claimer since the last pause of a lease or more or the key's removal: it most likely holds it.
    static (int Owner, int Key)[] LikelyHolders(Step[] done)
    {
        var holders = new Dictionary<int, int>();
        foreach (var step in done)
        {
            switch (step)
            {
                case { Kind: StepKind.Claim }:
                    holders.TryAdd(step.Key, step.Owner);
                    break;
                case { Kind: StepKind.Remove }:
                    holders.Remove(step.Key);
                    break;
                case { Kind: StepKind.Pass, Pause: >= Pause.Lease }:
                    holders.Clear();
                    break;
            }
        }

        return [.. holders.Select(h => (h.Value, h.Key))];
    }

    static IEnumerable<Scenario> Shrink(Scenario scenario)
    {
        var steps = scenario.Steps;
        for (var i = 0; i < steps.Length; i++)
            yield return scenario with { Steps = [.. steps[..i], .. steps[(i + 1)..]] };
        for (var i = 0; i < steps.Length; i++)
        {
            if (steps[i].OtherPayload)
                yield return scenario with { Steps = Replace(steps, i, steps[i] with { OtherPayload = false }) };
            if (steps[i] is { Kind: StepKind.Pass, Pause: > Pause.Moment })
                yield return scenario with { Steps = Replace(steps, i, steps[i] with { Pause = steps[i].Pause - 1 }) };
        }

        if (scenario.Keys == 2 && steps.All(s => s.Key == 0))
            yield return scenario with { Keys = 1 };
        if (scenario.Owners == 4 && steps.All(s => s.Owner < 3))
            yield return scenario with { Owners = 3 };
    }

    static Step[] Replace(Step[] steps, int index, Step step)
    {
        var copy = steps.ToArray();
        copy[index] = step;
        return copy;
    }
}
